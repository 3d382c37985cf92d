"""The dashboard from a checkout: ``streamlit run app.py`` (installed: ``bnnfer dashboard``).

The dashboard is the package `bnnfer_dashboard`; this file only runs its entry point.
"""

from bnnfer_dashboard.app import main

main()
