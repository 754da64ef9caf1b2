"""The PostgreSQL engine: psycopg 3 and pglast are imported only inside this package, so that a
SQLite project never loads them."""
