"""The goals service's pure core: plain values in, decisions and events out; `now` is a
parameter. Imports nothing but the standard library and itself (no database, broker, HTTP or
logging)."""
