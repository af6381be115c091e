//! par: a par construct for Rust (facade crate). See README.md.
pub use par_runtime::*;

#[doc(hidden)]
/// Used by generated code, not public API.
pub mod __private {
    pub use par_runtime::__private::*;
}
