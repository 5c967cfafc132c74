"""The goals service's pure core: values in, decisions out; no I/O, `now` is a parameter."""
