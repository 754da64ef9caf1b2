"""What a table's stored values are read through, for ci.db.postgres.values: the user-defined
types of its columns, followed down to the built-in ones (a domain's base type, an array's
element type, a composite's attributes, a range's subtype, a multirange's range).

Some statements change what every stored value of a type reads as without writing a row, so
neither the statistics counters nor the table's own catalogue row move: `ALTER TYPE ... RENAME
VALUE` renames an enum label in place, `ALTER TYPE ... ADD|DROP ATTRIBUTE` gives every value of
a composite one attribute more or less. What each user type is made of (its enum labels in
order, its attributes' types) is read from the catalogue before and after, and a table is read
again when anything its columns reach changed. Built-in types (oids below 16384) never change
under a migration and are not followed: a schema of built-in types only costs no query at all.
What does not change a stored value is not looked at: a domain's constraints and default, a
collation, a type's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import psycopg

NUMERIC = 1700  # pg_type oid of numeric
NUMERIC_ARRAY = 1231  # and of numeric[]
FIRST_USER_OID = 16384  # FirstNormalObjectId: every oid below is built in

# the types asked for: how their values are made of other types' values
TYPES = """
SELECT t.oid, t.typbasetype, t.typelem,
  ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid
        ORDER BY e.enumsortorder),
  ARRAY(SELECT a.atttypid::int8 FROM pg_attribute a
        WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
  ARRAY(SELECT a.atttypmod FROM pg_attribute a
        WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
  coalesce((SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid),
           (SELECT r.rngtypid FROM pg_range r WHERE r.rngmultitypid = t.oid), 0)
FROM pg_type t WHERE t.oid = ANY(%s::oid[])
"""


class UserType(NamedTuple):
    """One user type: the types its values are made of, and what else shapes them."""

    parts: tuple[int, ...]  # base, element, attribute, range subtypes (0: none)
    shape: tuple[object, ...]  # enum labels in order; attributes' typmods


class TypeGraph:
    """The user types of one moment, to follow a column's type through."""

    def __init__(self, cursor: psycopg.Cursor[Any], columns: set[int]) -> None:
        """The user types of these column types and of the types they are made of: no
        round trip when every column is of a built-in type, one per level of nesting else."""
        self.types: dict[int, UserType] = {}
        todo = {oid for oid in columns if oid >= FIRST_USER_OID}
        while todo:
            for oid, base, element, labels, attributes, typmods, subtype in cursor.execute(
                TYPES, (sorted(todo),)
            ):
                parts = (base, element, *attributes, subtype)
                self.types[oid] = UserType(parts, (tuple(labels), tuple(typmods)))
            todo = {
                part
                for found in todo & self.types.keys()
                for part in self.types[found].parts
                if part >= FIRST_USER_OID and part not in self.types
            }

    def state(self, columns: tuple[int, ...]) -> tuple[object, ...]:
        """What the values of columns of these types read through: each user type they reach,
        with its shape, in oid order (equal before and after when no value can read else)."""
        reached: set[int] = set()
        todo = [oid for oid in columns if oid in self.types]
        while todo:
            oid = todo.pop()
            if oid not in reached:
                reached.add(oid)
                todo.extend(part for part in self.types[oid].parts if part in self.types)
        return tuple((oid, self.types[oid]) for oid in sorted(reached))

    def base(self, oid: int) -> int:
        """The type a domain (over domains) is over; any other type itself."""
        seen = set()
        while oid in self.types and oid not in seen and self.types[oid].parts[0]:
            seen.add(oid)
            oid = self.types[oid].parts[0]
        return oid

    def numeric(self, oid: int) -> str:
        """ "number" for numeric (or a domain over it), "array" for an array of those (or a
        domain over one), else ""."""
        base = self.base(oid)
        if base == NUMERIC:
            return "number"
        element = self.types[base].parts[1] if base in self.types else 0
        return "array" if base == NUMERIC_ARRAY or self.base(element) == NUMERIC else ""
