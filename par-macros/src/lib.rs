//! Procedural macros of [par](https://docs.rs/forkpar) (the `forkpar` package, whose library is
//! `par`). Use them through it:
//! `par::par!` (a `macro_rules!` that forwards to the hidden `par_impl!` here).
//!
//! Stages, one file each: `ast` parses the user's tokens into a small AST, `check` applies the
//! rules the compiler can't express (collecting every error), `expand` writes the code.

mod ast;
mod check;
mod collapse;
mod ctxt;
mod expand;
mod in_place;
mod parallel;
mod ranks;

use proc_macro::TokenStream;

/// The implementation of `par::par!`; called as `par_impl!($crate; clauses..., for PAT in EXPR { BODY })`.
#[doc(hidden)]
#[proc_macro]
pub fn par_impl(input: TokenStream) -> TokenStream {
    let cx = ctxt::Ctxt::new();
    let mut parsed = ast::parse(&cx, input.into());
    // `collapse(k)`: the checks see the nest's innermost body, with the levels' patterns.
    let collapsed = parsed.as_mut().and_then(|l| collapse::prepare(&cx, l));
    if let Some(par_loop) = &parsed {
        check::check(&cx, par_loop);
        in_place::check(&cx, par_loop);
    }
    match (cx.finish(), parsed) {
        // MPI (the facade's feature `mpi`): `ranks::expand` adds the run on ranks, if it
        // applies, around `expand::expand`.
        (Ok(()), Some(mut par_loop)) => {
            let prelude = collapsed.map(|c| collapse::lower(c, &mut par_loop));
            expand::privatize(&mut par_loop);
            let expanded = ranks::expand(par_loop);
            match prelude {
                Some(prelude) => quote::quote!({ #prelude #expanded }).into(),
                None => expanded.into(),
            }
        }
        (Err(e), _) => {
            // One block, whatever the number of errors, so that `par!` stays an expression. The
            // last `compile_error!` is the block's value: an error expression fits any expected
            // type, so rustc reports only our errors (a `!` after it, such as `unreachable!()`,
            // would add an "unreachable statement" warning to every failed `par!`).
            let errors = e.to_compile_error();
            quote::quote!({ #errors }).into()
        }
        (Ok(()), None) => unreachable!("a parse failure always records an error"),
    }
}

/// Marks a function as a parallel callable. See `par::parallel`.
#[proc_macro_attribute]
pub fn parallel(args: TokenStream, input: TokenStream) -> TokenStream {
    let original: proc_macro2::TokenStream = input.clone().into();
    let cx = ctxt::Ctxt::new();
    let krate = parallel::krate(&cx, args.into());
    let item = match syn::parse::<syn::ItemFn>(input) {
        Ok(f) => Some(f),
        Err(_) => {
            cx.error_spanned_by(
                &original,
                "`#[parallel]` applies to a free function: `#[par::parallel] fn name(args) -> Result { ... }`",
            );
            None
        }
    };
    if let Some(f) = &item {
        parallel::check(&cx, f);
    }
    match (cx.finish(), item) {
        (Ok(()), Some(f)) => parallel::expand(&krate, f).into(),
        (Err(e), item) => {
            // Keep the user's item so that the rest of their code still resolves it.
            let errors = e.to_compile_error();
            let item = item.map_or(original, parallel::fallback);
            quote::quote!(#item #errors).into()
        }
        (Ok(()), None) => unreachable!("a parse failure always records an error"),
    }
}
