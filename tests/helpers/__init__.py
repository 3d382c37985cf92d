"""What several test files share: synthetic FER+ folders and crowds, tiny networks, video clips,
mutated bytes, the dashboard's settled AppTest sessions, a throwaway PostgreSQL server. pytest
puts tests/ on ``sys.path`` (``pythonpath`` in pyproject.toml), so tests import them as
``from helpers.nets import tiny_network``."""
