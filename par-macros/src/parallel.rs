//! `#[parallel]`: keeps the function as it is and adds a companion of the same name whose
//! `spawn(&mut queue_or_map, args...)` runs the function in a forked child, and rewrites the
//! function's `#[par] for` loops as `par!` loops.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::visit_mut::{self, VisitMut};
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use crate::ctxt::Ctxt;

/// Arguments of the attribute: nothing, or `crate = "path"` for a renamed `par`.
pub fn krate(cx: &Ctxt, args: TokenStream) -> TokenStream {
    if args.is_empty() {
        return quote!(::par);
    }
    let parser = |input: syn::parse::ParseStream| -> syn::Result<TokenStream> {
        input.parse::<syn::Token![crate]>()?;
        input.parse::<syn::Token![=]>()?;
        let path: syn::LitStr = input.parse()?;
        let path: syn::Path = path.parse()?;
        Ok(quote!(#path))
    };
    match syn::parse::Parser::parse2(parser, args.clone()) {
        Ok(path) => path,
        Err(_) => {
            cx.error_spanned_by(args, "unknown `#[parallel]` argument; the only one is `crate = \"path::to::par\"`, for a renamed `par` dependency");
            quote!(::par)
        }
    }
}

/// The most arguments a `#[parallel]` function takes: they travel as a tuple, and serde
/// implements `Serialize` and `Deserialize` for tuples of up to 16 elements.
const MAX_ARGUMENTS: usize = 16;

/// The checks: what a function run in another process by its arguments cannot be.
pub fn check(cx: &Ctxt, f: &ItemFn) {
    let sig = &f.sig;
    if let Some(a) = &sig.asyncness {
        cx.error_spanned_by(a, "`#[parallel]` on an `async fn`; a forked worker has no async runtime: make the function synchronous and await outside of it");
    }
    if !sig.generics.params.is_empty() {
        cx.error_spanned_by(
            &sig.generics,
            "`#[parallel]` on a generic function; a worker that did not fork from the call site must find one concrete function by its name: write a non-generic wrapper and mark that",
        );
    }
    if sig.inputs.len() > MAX_ARGUMENTS {
        cx.error_spanned_by(
            &sig.inputs,
            format!("`#[parallel]` on a function of {} arguments; its arguments travel as one tuple, and serde's tuples have at most {MAX_ARGUMENTS} elements: pass a struct that derives `Serialize` and `Deserialize`", sig.inputs.len()),
        );
    }
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => cx.error_spanned_by(
                r,
                "`#[parallel]` on a method with `self`; a worker receives only the arguments: make it a free function that takes the value it needs",
            ),
            FnArg::Typed(t) => check_type(cx, &t.ty),
        }
    }
    if let ReturnType::Type(_, ty) = &sig.output
        && let Type::ImplTrait(_) = **ty
    {
        cx.error_spanned_by(ty, "`#[parallel]` with an `impl Trait` result; the result travels between processes: return a concrete serializable type");
    }
    LabelledPar { cx }.visit_block(&f.block);
}

/// A `#[par]` loop's iterations run in worker processes, so nothing can `break 'label` out of it
/// or `continue 'label` it; a label that nothing may target is a mistake, and leaving such a loop
/// sequential would hide it.
struct LabelledPar<'a> {
    cx: &'a Ctxt,
}

impl<'ast> Visit<'ast> for LabelledPar<'_> {
    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        if let (Some(label), true) = (&f.label, f.attrs.iter().any(|a| a.path().is_ident("par"))) {
            let name = &label.name;
            self.cx.error_spanned_by(
                label,
                format!("`#[par]` on a labelled `for` loop; its iterations run in separate worker processes, so no `break {name}` or `continue {name}` can reach it: remove the label `{name}` (a plain `continue` skips an item)"),
            );
        }
        visit::visit_expr_for_loop(self, f);
    }

    // As `Rewrite`: nested items have their own loops.
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

fn check_type(cx: &Ctxt, ty: &Type) {
    match ty {
        Type::Reference(r) => cx.error_spanned_by(
            r,
            "a reference argument in a `#[parallel]` function; arguments travel to reusable workers as bytes: take an owned value (`String` for `&str`, `Vec<T>` for `&[T]`)",
        ),
        Type::ImplTrait(i) => cx.error_spanned_by(
            i,
            "an `impl Trait` argument in a `#[parallel]` function; a worker must know the argument's concrete type to decode it: name the type",
        ),
        Type::Paren(p) => check_type(cx, &p.elem),
        Type::Tuple(t) => t.elems.iter().for_each(|e| check_type(cx, e)),
        Type::Array(a) => check_type(cx, &a.elem),
        _ => {}
    }
}

/// The function (with its `#[par] for` loops rewritten) and its companion module.
pub fn expand(krate: &TokenStream, mut f: ItemFn) -> TokenStream {
    Rewrite { krate }.visit_block_mut(&mut f.block);
    let vis = &f.vis;
    let name = &f.sig.ident;
    let ret = match &f.sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let (params, names): (Vec<_>, Vec<_>) = f
        .sig
        .inputs
        .iter()
        .enumerate()
        .filter_map(|(i, arg)| match arg {
            FnArg::Typed(t) => {
                let ident = match &*t.pat {
                    Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
                    _ => format_ident!("__par_arg{}", i),
                };
                let ty = &t.ty;
                Some((quote!(#ident: #ty), ident))
            }
            FnArg::Receiver(_) => None,
        })
        .collect();
    let types: Vec<_> = f
        .sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => Some(&t.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let doc = format!(
        "Runs [`{name}`](fn@{name}) in a forked worker: `{name}::spawn(&mut queue, args...)` submits a call to a `par::Queue`, `par::Map` or `par::Pool` and returns its job number. Generated by `#[par::parallel]`."
    );
    // One error per argument or result type that can't travel, on the user's type (see
    // `__private::Check`); `Call` keeps the trampoline and `spawn` from adding their own.
    let check = quote!(#krate::__private::Check);
    let mut checks: Vec<_> = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> (&&&#check::<#ty>::new()).__par_argument();))
        .collect();
    if let ReturnType::Type(_, ty) = &f.sig.output {
        checks.push(quote_spanned!(ty.span()=> (&&&#check::<#ty>::new()).__par_result();));
    }
    let args = quote!((#( #types, )*));
    // What `pmap` takes per item: the argument itself for a one-argument function, else the
    // tuple of the arguments.
    let (item, to_args) = if types.len() == 1 {
        let ty = &types[0];
        (quote!(#ty), quote!(|__par_a| (__par_a,)))
    } else {
        (quote!(#args), quote!(|__par_a| __par_a))
    };
    let call = quote!((&&#krate::__private::Call::<#args, #ret>::new()));
    let uses = quote! {
        #[allow(unused_imports)]
        use #krate::__private::{CallStays as _, CallTravels as _};
    };
    // A braced struct, not a module: it lives in the type namespace beside the function (which
    // is in the value namespace), and unlike a module it also works for a function declared
    // inside another function's body.
    quote! {
        #f

        #[doc = #doc]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name {}

        #[allow(dead_code)]
        impl #name {
            /// The function's stable name, by which a worker that did not fork from the call site finds it.
            #vis const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#name));

            /// Submits a call of the function to `queue` (a `par::Queue`, `par::Map` or `par::Pool`: a `par::Spawner`); returns its job number.
            #vis fn spawn<'a, Q: #krate::__private::SpawnerOf<'a, #ret>>(queue: &mut Q, #( #params ),*) -> usize {
                #uses
                #call.__par_spawn(
                    queue,
                    Self::NAME,
                    (#( #names, )*),
                    |(#( #names, )*): #args| #name(#( #names ),*),
                )
            }

            /// `par::pmap` of this function: a call per item of `items` (its argument, or a tuple of its arguments), at most `limit` at a time, results in input order. Each call is a job of a `par::Map`, so under `par::main` in an MPI job the calls go to the other ranks.
            #vis fn pmap<'a, I: ::core::iter::IntoIterator<Item = #item>>(items: I, limit: usize) -> impl ::core::iter::Iterator<Item = #krate::Result<#ret>> + 'a
            where
                I::IntoIter: 'a,
            {
                #uses
                #call.__par_pmap(
                    ::core::iter::IntoIterator::into_iter(items).map(#to_args),
                    limit,
                    Self::NAME,
                    |(#( #names, )*): #args| #name(#( #names ),*),
                )
            }
        }

        const _: () = {
            #[allow(dead_code)]
            fn __par_types_travel() {
                #[allow(unused_imports)]
                use #krate::__private::{ErrorStays as _, Stays as _, Travels as _};
                #( #checks )*
            }

            // The registration a `par::Pool` worker finds the function by.
            fn __par_call(__par_bytes: &[u8]) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                #uses
                #call.__par_trampoline(__par_bytes, |(#( #names, )*): #args| #name(#( #names ),*))
            }
            #krate::__private::inventory::submit! {
                #krate::__private::Registered { name: #name::NAME, call: __par_call }
            }
        };
    }
}

/// The function as the user wrote it, minus what only `#[parallel]` understands: emitted beside
/// the errors so that the rest of the program still resolves it, without a second error for a
/// `#[par]` attribute that rustc does not know (and an unused label it would warn about).
pub fn fallback(mut f: ItemFn) -> TokenStream {
    struct Strip;
    impl VisitMut for Strip {
        fn visit_expr_for_loop_mut(&mut self, f: &mut syn::ExprForLoop) {
            if let Some(at) = f.attrs.iter().position(|a| a.path().is_ident("par")) {
                f.attrs.remove(at);
                f.label = None;
            }
            visit_mut::visit_expr_for_loop_mut(self, f);
        }
        fn visit_item_mut(&mut self, _: &mut syn::Item) {}
    }
    Strip.visit_block_mut(&mut f.block);
    quote!(#f)
}

/// Rewrites `#[par] for ...` and `#[par(clauses)] for ...` as `par!(clauses, for ...)`.
struct Rewrite<'a> {
    krate: &'a TokenStream,
}

impl VisitMut for Rewrite<'_> {
    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        visit_mut::visit_expr_mut(self, e);
        let syn::Expr::ForLoop(f) = e else { return };
        let Some(at) = f.attrs.iter().position(|a| a.path().is_ident("par")) else {
            return;
        };
        let attr = f.attrs.remove(at);
        let clauses = match &attr.meta {
            syn::Meta::List(l) => {
                let tokens = &l.tokens;
                quote!(#tokens,)
            }
            _ => quote!(),
        };
        let (krate, pat, iter, body) = (self.krate, &f.pat, &f.expr, &f.body);
        debug_assert!(
            f.label.is_none(),
            "`check` rejects a labelled `#[par]` loop"
        );
        // A block with a statement: a `for` loop is a unit expression and needs no `;`.
        *e = syn::parse_quote!({ #krate::par!(#clauses for #pat in #iter #body); });
    }

    // Closures and nested items have their own loops: leave them as written.
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
