//! Procedural macros of par.
