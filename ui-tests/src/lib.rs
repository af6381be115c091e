//! ui-tests of par (compile-fail and compile-pass cases run by trybuild).
