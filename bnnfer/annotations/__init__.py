"""Your own votes on faces, kept in a database: the schema (`schema`), opening a database by
file path or SQLAlchemy URL with its migrations run (`database`), the votes as
``annotations.csv`` folders out and in (`exchange`), and what the Annotate page asks of them:
which face comes next (`queue`) and where you stand (`scoreboard`)."""
