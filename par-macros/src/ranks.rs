//! `par!` over the ranks of an MPI job (the facade's feature `mpi`): a loop whose body is one
//! call of a function, `par!(for x in xs { f(x, 2) })`, gets a second expansion beside the
//! usual one. At run time, `__private::rank_function(&f)` says whether `f` is a registered
//! `#[parallel]` function and this is rank 0 of an MPI job in `par::main`; then the arguments
//! are computed here, item by item, and the calls run on the other ranks, results in item
//! order. Otherwise (and always without the feature) the usual loop runs on forked workers.
//!
//! Only plain collecting loops qualify: no clause but `workers` and `schedule` (which the
//! ranks' dynamic scheduling replaces; `plain` matches every clause, so a new one must be
//! decided there); a body that is not exactly one call expression, or any
//! other clause, keeps the usual expansion only.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ast::ParLoop;

/// The usual expansion, or a choice at run time between the ranks and the usual expansion.
///
/// The iterable becomes a `Source` first (as the usual expansion makes it), bound to
/// `__par_items` in a `match` (so that its temporaries live through the loop): the item type
/// is known from it, and the usual expansion runs over that same source when the ranks are
/// not used. `rank_function_of` takes a closure that is never called: it names `f` after
/// type-checking the call `f(args)` with the loop's item type, so that a generic function
/// (`ByteBuf::from`) gets its parameters inferred as in the loop, and a closure or a local
/// variable is only borrowed.
pub fn expand(mut l: ParLoop) -> TokenStream {
    if !l.ranks || !plain(&l) || crate::in_place::detect(&l.iter).is_some() {
        return crate::expand::expand(&l);
    }
    let Some((func, args)) = one_call(&l.body) else {
        return crate::expand::expand(&l);
    };
    let (func, args) = (func.clone(), args.into_iter().cloned().collect::<Vec<_>>());
    let iter = std::mem::replace(&mut l.iter, syn::parse_quote!(__par_items));
    let local = crate::expand::expand(&l);
    let (krate, pat) = (&l.krate, &l.pat);
    let names: Vec<_> = (0..args.len())
        .map(|i| format_ident!("__par_arg{}", i))
        .collect();
    quote!({
        #[allow(unused_imports)]
        use #krate::__private::{RankStays as _, RankTravels as _, ViaIter as _, ViaSource as _};
        let __par_iterable = #krate::__private::Iterable(#iter);
        match (&__par_iterable).__par_kind().__par_source(__par_iterable.0) {
            #[allow(unused_mut)]
            mut __par_items => {
                #[allow(unused_variables, unreachable_code)]
                let __par_name = #krate::__private::rank_function_of(&__par_items, |__par_item| {
                    match __par_item {
                        #pat => {
                            let __par_f = &#func;
                            if false {
                                let _ = (__par_f)(#( #args ),*);
                            }
                            __par_f
                        }
                    }
                });
                match __par_name {
                    ::core::option::Option::Some(__par_name) => {
                        let mut __par_ranks = #krate::__private::RankLoop::new(__par_name);
                        while let ::core::option::Option::Some(__par_item) =
                            #krate::Source::next_item(&mut __par_items)
                        {
                            match __par_item {
                                #pat => {
                                    let __par_args = (#( #args, )*);
                                    let __par_probe = #krate::__private::probe(
                                        &__par_args,
                                        |(#( #names, )*)| #func(#( #names ),*),
                                    );
                                    (&&__par_probe).__par_rank_call(&mut __par_ranks, __par_args);
                                }
                            }
                        }
                        let __par_probe = __par_ranks.probe();
                        (&&__par_probe).__par_rank_finish(__par_ranks)
                    }
                    ::core::option::Option::None => #local,
                }
            }
        }
    })
}

/// No clause that changes what the loop returns or how failures are handled.
fn plain(l: &ParLoop) -> bool {
    // Exhaustive on purpose: a new clause does not compile here until it is decided whether
    // the ranks honour it. `workers` and `schedule` are replaced by the ranks' own dynamic
    // scheduling; every other clause, set, keeps the loop on local workers (the ranks would
    // drop it: a memory limit, a timeout, a cancel...).
    let crate::ast::Clauses {
        workers: _,
        schedule: _,
        timeout,
        progress,
        report,
        if_,
        retries,
        retry_panics,
        cancel,
        memory_limit,
        threads_per_worker,
        proc_bind,
        find,
        keep_going,
        unordered,
        ordered,
        try_,
        stream,
        reduce,
        private,
        collapse,
    } = &l.clauses;
    timeout.is_none()
        && progress.is_none()
        && report.is_none()
        && if_.is_none()
        && retries.is_none()
        && retry_panics.is_none()
        && cancel.is_none()
        && memory_limit.is_none()
        && threads_per_worker.is_none()
        // Ranks are placed by `mpirun`; binding names local workers, which keep it.
        && proc_bind.is_none()
        && find.is_none()
        && keep_going.is_none()
        && unordered.is_none()
        && ordered.is_none()
        && try_.is_none()
        && stream.is_none()
        && reduce.is_none()
        && private.is_none()
        && collapse.is_none()
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
