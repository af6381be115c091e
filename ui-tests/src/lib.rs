//! ui-tests of par: compile-fail cases run by trybuild (`tests/ui.rs`) and compile-pass cases,
//! each a test target of its own (`tests/pass`).
