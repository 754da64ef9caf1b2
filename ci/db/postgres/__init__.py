"""PostgreSQL, the second engine: its connections, the runner's tables on it, and its runner.

psycopg (the driver) and pglast (PostgreSQL's parser) are imported only inside this package, and
only once a PostgreSQL database is used: a SQLite run never loads them. Everything that does not
depend on the engine (the migrations model, what is pending, edited files, outcomes, the
runner's printed lines) is the SQLite runner's own code, reused.
"""
