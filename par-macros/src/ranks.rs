//! `par!` over the ranks of an MPI job (the facade's feature `mpi`): a loop whose body is one
//! call of a function, `par!(for x in xs { f(x, 2) })`, gets a second expansion beside the
//! usual one. At run time, `__private::rank_function(&f)` says whether `f` is a registered
//! `#[parallel]` function and this is rank 0 of an MPI job in `par::main`; then the arguments
//! are computed here, item by item, and the calls run on the other ranks, results in item
//! order. Otherwise (and always without the feature) the usual loop runs on forked workers.
//!
//! Only plain collecting loops qualify: no clause but `workers` and `schedule` (which the
//! ranks' dynamic scheduling replaces); a body that is not exactly one call expression, or any
//! other clause, keeps the usual expansion only.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ast::ParLoop;

/// `local` (the usual expansion), or a choice between the ranks and `local` at run time.
pub fn wrap(l: &ParLoop, local: TokenStream) -> TokenStream {
    if !l.ranks || !plain(l) {
        return local;
    }
    let Some((func, args)) = one_call(&l.body) else {
        return local;
    };
    let (krate, pat, iter) = (&l.krate, &l.pat, &l.iter);
    let names: Vec<_> = (0..args.len())
        .map(|i| format_ident!("__par_arg{}", i))
        .collect();
    quote!({
        match #krate::__private::rank_function(&#func) {
            ::core::option::Option::Some(__par_name) => {
                #[allow(unused_imports)]
                use #krate::__private::{RankStays as _, RankTravels as _};
                let mut __par_ranks = #krate::__private::RankLoop::new(__par_name);
                for #pat in #iter {
                    let __par_args = (#( #args, )*);
                    let __par_probe = #krate::__private::probe(
                        &__par_args,
                        |(#( #names, )*)| #func(#( #names ),*),
                    );
                    (&&__par_probe).__par_rank_call(&mut __par_ranks, __par_args);
                }
                let __par_probe = __par_ranks.probe();
                (&&__par_probe).__par_rank_finish(__par_ranks)
            }
            ::core::option::Option::None => #local,
        }
    })
}

/// No clause that changes what the loop returns or how failures are handled.
fn plain(l: &ParLoop) -> bool {
    let c = &l.clauses;
    c.timeout.is_none()
        && c.progress.is_none()
        && c.if_.is_none()
        && c.retries.is_none()
        && c.retry_panics.is_none()
        && c.cancel.is_none()
        && c.find.is_none()
        && c.keep_going.is_none()
        && c.unordered.is_none()
        && c.try_.is_none()
        && c.stream.is_none()
        && c.reduce.is_none()
}

/// The body `{ f(args...) }`: one call of a path, as the block's value.
fn one_call(body: &syn::Block) -> Option<(&syn::ExprPath, Vec<&syn::Expr>)> {
    let [syn::Stmt::Expr(syn::Expr::Call(call), None)] = &body.stmts[..] else {
        return None;
    };
    let syn::Expr::Path(func) = &*call.func else {
        return None;
    };
    Some((func, call.args.iter().collect()))
}
