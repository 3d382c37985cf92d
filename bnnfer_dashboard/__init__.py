"""bnnfer's Streamlit dashboard: the entry script (app.py), its pages (screens/) and the helpers
they share. ``bnnfer dashboard`` starts it from an installed package, ``streamlit run app.py``
from a checkout. Nothing here imports torch: the pages call bnnfer.
"""
