//! `collapse(k)`: `par!(collapse(2), for i in 0..n { for j in 0..m { body } })` runs the
//! `n * m` iterations of the nest as one loop (OpenMP's `collapse(2)`).
//!
//! Two steps. [`prepare`], before the checks, reads the nest: the body must be exactly one
//! `for` per level, without a label, and no inner range may mention a variable of an outer
//! loop (a rectangular nest, as OpenMP requires). It leaves the loop as the checks should see
//! it: the levels' patterns as one tuple pattern and the innermost body as the body. [`lower`],
//! after them, makes it a loop over the flat range `0..n * m` whose body first binds the levels'
//! patterns from the flat index (row-major: the last level varies fastest), and returns the
//! statements that evaluate each level's range once, before the loop. Each level is taken by
//! `Iterator::nth` on a clone of its iterator, which is O(1) for ranges of any integer type.

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, Pat};

use crate::ast::ParLoop;
use crate::ctxt::Ctxt;

const IN_PLACE: &str = "`collapse` merges loops over ranges or read-only iterators, not in-place loops (`iter_mut`, `chunks_mut`, `&mut v`): iterate read-only and return the values from the body";

/// The levels of a collapsed nest, outermost first.
pub struct Collapse {
    iters: Vec<Expr>,
    pats: Vec<Pat>,
}

/// Reads the nest `collapse(k)` names and leaves `l` as the checks see it; `None` (errors
/// recorded) if the body is not such a nest, or without `collapse` (or `collapse(1)`).
pub fn prepare(cx: &Ctxt, l: &mut ParLoop) -> Option<Collapse> {
    let (_, depth) = l.clauses.collapse.as_ref()?;
    let k: usize = depth.base10_parse().ok()?;
    if k < 2 {
        return None;
    }
    if let Some(span) = l.clauses.stream {
        cx.syn_error(syn::Error::new(
            span,
            "`stream` cannot be combined with `collapse`; a collapsed nest takes its items by index from its ranges: remove `stream`",
        ));
        return None;
    }
    if crate::in_place::detect(&l.iter).is_some() {
        cx.error_spanned_by(&l.iter, IN_PLACE);
        return None;
    }
    let mut pats = vec![l.pat.clone()];
    let mut iters = vec![l.iter.clone()];
    let mut body = l.body.clone();
    for level in 1..k {
        let inner = match &body.stmts[..] {
            [syn::Stmt::Expr(Expr::ForLoop(f), _)] => f.clone(),
            _ => {
                cx.error_spanned_by(
                    &body,
                    format!(
                        "`collapse({k})` merges a nest of {k} `for` loops, so the body of each loop but the innermost must be exactly one `for` loop; the body of loop {level} of the nest (the `par!` loop is loop 1) is not: move its other statements into the innermost body, or {fewer}",
                        fewer = if level == 1 {
                            "remove `collapse` (the inner loop then runs sequentially in each item)".to_string()
                        } else {
                            format!("merge fewer loops: `collapse({level})`")
                        }
                    ),
                );
                return None;
            }
        };
        if let Some(label) = &inner.label {
            cx.error_spanned_by(
                label,
                "a loop merged by `collapse` cannot have a label; the nest runs as one loop of `(i, j)` items: remove the label, and use a plain `continue` to skip an item",
            );
            return None;
        }
        if crate::in_place::detect(&inner.expr).is_some() {
            cx.error_spanned_by(&inner.expr, IN_PLACE);
            return None;
        }
        let mut outer = Names::default();
        for p in &pats {
            outer.visit_pat(p);
        }
        let range = &inner.expr;
        if let Some(used) = mentions(quote!(#range).into_iter(), &outer.0) {
            cx.error_spanned_by(
                &used,
                format!(
                    "the range of a loop merged by `collapse` uses `{used}`, a variable of an outer loop; `collapse` needs a rectangular nest (as OpenMP does): each inner range may use only values from before the nest, as in `for j in 0..m`. For a triangular nest, remove `collapse` (the inner loop runs sequentially in each item), or loop over the pairs: `for (i, j) in pairs`"
                ),
            );
            return None;
        }
        if let Some(changes) = changes_state(range) {
            cx.error_spanned_by(
                &changes,
                "the range of a loop merged by `collapse` changes state; `collapse` evaluates each inner range once, before the nest, where the sequential nest evaluates it once per outer iteration, so a range that assigns or borrows `&mut` would give a different nest: compute it before the `par!` loop (`let m = ...;` then `for j in 0..m`)",
            );
            return None;
        }
        pats.push((*inner.pat).clone());
        iters.push((*inner.expr).clone());
        body = inner.body.clone();
    }
    let mut elems = Punctuated::new();
    for p in &pats {
        elems.push(p.clone());
    }
    l.pat = Pat::Tuple(syn::PatTuple {
        attrs: Vec::new(),
        paren_token: Default::default(),
        elems,
    });
    l.body = body;
    // Named as `lower` names it (call-site hygiene), not with the user's span.
    let len = Ident::new("__par_collapsed_len", Span::call_site());
    l.iter = syn::parse_quote!(0..#len);
    Some(Collapse { iters, pats })
}

/// The first part of an inner range that changes state as it is evaluated: an assignment, a
/// compound assignment or a `&mut` borrow (not in a closure, which the range may only define).
/// A call of a `&mut self` method is caught by the compiler instead: `lower` evaluates inner
/// ranges in a closure that must be `Fn`.
fn changes_state(range: &Expr) -> Option<TokenStream> {
    #[derive(Default)]
    struct Finder(Option<TokenStream>);
    impl Visit<'_> for Finder {
        fn visit_expr(&mut self, e: &Expr) {
            if self.0.is_some() {
                return;
            }
            use syn::BinOp::*;
            match e {
                Expr::Assign(_) => self.0 = Some(quote!(#e)),
                Expr::Binary(b)
                    if matches!(
                        b.op,
                        AddAssign(_)
                            | SubAssign(_)
                            | MulAssign(_)
                            | DivAssign(_)
                            | RemAssign(_)
                            | BitXorAssign(_)
                            | BitAndAssign(_)
                            | BitOrAssign(_)
                            | ShlAssign(_)
                            | ShrAssign(_)
                    ) =>
                {
                    self.0 = Some(quote!(#e))
                }
                Expr::Reference(r) if r.mutability.is_some() => self.0 = Some(quote!(#e)),
                Expr::Closure(_) => {}
                _ => syn::visit::visit_expr(self, e),
            }
        }
    }
    let mut f = Finder::default();
    f.visit_expr(range);
    f.0
}

/// The names a pattern binds.
#[derive(Default)]
struct Names(Vec<String>);

impl Visit<'_> for Names {
    fn visit_pat_ident(&mut self, p: &syn::PatIdent) {
        self.0.push(p.ident.to_string());
        syn::visit::visit_pat_ident(self, p);
    }
}

/// The first identifier among `tokens` that is one of `names` (not a field or method after a
/// `.`), macros' arguments included.
fn mentions(tokens: impl Iterator<Item = TokenTree>, names: &[String]) -> Option<Ident> {
    let mut after_dot = false;
    for t in tokens {
        match t {
            TokenTree::Ident(i) if !after_dot && names.iter().any(|n| i == n) => return Some(i),
            TokenTree::Group(g) => {
                if let Some(i) = mentions(g.stream().into_iter(), names) {
                    return Some(i);
                }
            }
            _ => {}
        }
        after_dot = false;
    }
    None
}

/// Rewrites the prepared loop over the flat range and returns the statements to put before it.
pub fn lower(c: Collapse, l: &mut ParLoop) -> TokenStream {
    let n = c.iters.len();
    let dims: Vec<_> = (0..n)
        .map(|i| format_ident!("__par_collapsed_dim{}", i))
        .collect();
    let lens: Vec<_> = (0..n)
        .map(|i| format_ident!("__par_collapsed_len{}", i))
        .collect();
    let strides: Vec<_> = (0..n)
        .map(|i| format_ident!("__par_collapsed_stride{}", i))
        .collect();
    let iters = &c.iters;
    // Inner ranges are evaluated in a closure that must be `Fn`: one that changes what it
    // captures (a `&mut self` method on an outer value) is a compile error naming the change.
    let defs = iters.iter().zip(&dims).enumerate().map(|(i, (iter, d))| {
        if i == 0 {
            quote_spanned!(iter.span()=> let #d = ::core::iter::IntoIterator::into_iter(#iter);)
        } else {
            quote_spanned!(iter.span()=> let #d = ::core::iter::IntoIterator::into_iter({
                fn __par_unchanging<R>(f: impl ::core::ops::Fn() -> R) -> R { f() }
                __par_unchanging(|| #iter)
            });)
        }
    });
    let len_defs = dims.iter().zip(&lens).map(|(d, n)| {
        quote!(
            let #n: usize = {
                let __par_it = ::core::clone::Clone::clone(&#d);
                match ::core::iter::Iterator::size_hint(&__par_it) {
                    (__par_lo, ::core::option::Option::Some(__par_hi)) if __par_lo == __par_hi => __par_lo,
                    _ => ::core::iter::Iterator::count(__par_it),
                }
            };
        )
    });
    // The last level's stride is 1; each outer one is the product of the lengths inside it.
    let mut stride_defs = Vec::new();
    for i in (0..n).rev() {
        let s = &strides[i];
        if i == n - 1 {
            stride_defs.push(quote!(let #s: usize = 1;));
        } else {
            let (inner_s, inner_n) = (&strides[i + 1], &lens[i + 1]);
            stride_defs.push(quote!(
                let #s: usize = ::core::option::Option::expect(
                    #inner_s.checked_mul(#inner_n),
                    "par: the iteration space of a `collapse` nest has more items than `usize` holds",
                );
            ));
        }
    }
    let (s0, n0) = (&strides[0], &lens[0]);
    let total = quote!(
        let __par_collapsed_len: usize = ::core::option::Option::expect(
            #s0.checked_mul(#n0),
            "par: the iteration space of a `collapse` nest has more items than `usize` holds",
        );
    );
    let prelude = quote!(
        #( #defs )*
        #( #len_defs )*
        #( #stride_defs )*
        #total
    );
    let k = Ident::new("__par_collapsed_k", Span::call_site());
    let values = dims.iter().zip(&strides).zip(&lens).map(|((d, s), n)| {
        quote!(::core::option::Option::expect(
            ::core::iter::Iterator::nth(
                &mut ::core::clone::Clone::clone(&#d),
                (#k / #s) % #n,
            ),
            "par: a loop of a `collapse` nest has fewer items than its length",
        ))
    });
    let pats = &c.pats;
    let bind: syn::Stmt = syn::parse_quote!(
        let ( #( #pats, )* ) = ( #( #values, )* );
    );
    l.body.stmts.insert(0, bind);
    l.pat = syn::parse_quote!(#k);
    prelude
}
