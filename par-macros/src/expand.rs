//! Writes the code for a checked [`ParLoop`]: `quote!` only, no decisions beyond the form.
//! Every emitted path is absolute, rooted at the `par` crate's path (`$crate` or `crate = ...`).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Op, ParLoop, Reduction, Schedule};
use crate::check::continues;

pub fn expand(l: &ParLoop) -> TokenStream {
    let krate = &l.krate;
    let opts = options(l);
    let src = source(l);
    let result = quote!(::core::result::Result);
    let string = quote!(::std::string::String);
    let body_error = quote!(#krate::__private::BodyError);
    let (pat, body) = (&l.pat, &l.body);
    let skips = continues(body);
    let is_try = l.clauses.try_.is_some();

    if let Some(ip) = crate::in_place::detect(&l.iter) {
        return crate::in_place::expand(l, &ip, &opts);
    }
    if let Some((_, reductions)) = &l.clauses.reduce {
        return reduce(l, reductions, &opts, &src);
    }

    // A body with `continue` skips items, so it has no value: run it as a one-item `for` loop.
    let run = if skips {
        quote!(for #pat in ::core::iter::once(__par_item) #body)
    } else {
        quote!(match __par_item { #pat => #body })
    };
    let unit = skips || ends_in_statement(body);
    // A value travels to the parent: checked here, on the user's tokens, rather than by the
    // `Transfer` bound of `collect` (see `__private::Check`).
    let run = if unit { run } else { checked(krate, body, run) };
    let closure = if is_try {
        quote!(|__par_item| -> #result<_, #string> {
            let __par_r: #result<_, #body_error> = (|| #result::Ok(#run))();
            __par_r.map_err(#body_error::into_message)
        })
    } else {
        quote!(|__par_item| #run)
    };
    if l.clauses.find.is_some() {
        let method = if is_try {
            quote!(try_position_any)
        } else {
            quote!(position_any)
        };
        let pred = if is_try {
            quote!(|__par_item| -> #result<bool, #string> {
                let __par_r: #result<bool, #body_error> = (|| #result::Ok(match __par_item { #pat => #body }))();
                __par_r.map_err(#body_error::into_message)
            })
        } else {
            quote!(|__par_item| -> bool { match __par_item { #pat => #body } })
        };
        return quote_spanned!(l.iter.span()=> #opts.#method(#src, #pred));
    }
    if l.clauses.keep_going.is_some() {
        let (method, closure) = if is_try {
            (quote!(try_collect_each), closure)
        } else {
            (
                quote!(collect_each),
                quote!(|__par_item| #result::<_, ::core::convert::Infallible>::Ok(#run)),
            )
        };
        return quote_spanned!(l.iter.span()=> #opts.#method(#src, #closure));
    }
    if l.clauses.ordered.is_some() {
        let method = if is_try {
            quote!(try_ordered)
        } else {
            quote!(ordered)
        };
        return quote_spanned!(l.iter.span()=> #opts.#method(#src, #closure));
    }
    let method = match (l.clauses.unordered.is_some(), unit, is_try) {
        (true, _, false) => quote!(unordered),
        (true, _, true) => quote!(try_unordered),
        (false, true, false) => quote!(for_each),
        (false, true, true) => quote!(try_for_each),
        (false, false, false) => quote!(collect),
        (false, false, true) => quote!(try_collect),
    };
    quote_spanned!(l.iter.span()=> #opts.#method(#src, #closure))
}

/// The body's value passed through `__private::Check`, which has it compile only if its type
/// can travel, with one error spanned on the body's last expression otherwise.
fn checked(krate: &TokenStream, body: &syn::Block, run: TokenStream) -> TokenStream {
    let span = match body.stmts.last() {
        Some(syn::Stmt::Expr(e, None)) => e.span(),
        _ => body.span(),
    };
    quote_spanned!(span=> {
        #[allow(unused_imports)]
        use #krate::__private::{ErrorStays as _, Stays as _, Travels as _};
        let __par_value = #run;
        (&&&#krate::__private::Check::of(&__par_value)).__par_value(__par_value)
    })
}

/// A body whose last statement ends with `;` (or that is empty) has no value: a for-each.
fn ends_in_statement(body: &syn::Block) -> bool {
    match body.stmts.last() {
        None => true,
        Some(syn::Stmt::Expr(_, semi)) => semi.is_some(),
        Some(syn::Stmt::Macro(m)) => m.semi_token.is_some(),
        Some(syn::Stmt::Local(_) | syn::Stmt::Item(_)) => true,
    }
}

fn options(l: &ParLoop) -> TokenStream {
    let krate = &l.krate;
    let c = &l.clauses;
    let mut opts = quote!(#krate::Loop::new());
    if let Some(w) = &c.workers {
        opts = quote!(#opts.workers(#w));
    }
    if let Some(Schedule::Runtime) = &c.schedule {
        opts = quote!(#opts.schedule_from_env());
    } else if let Some(s) = &c.schedule {
        let s = match s {
            Schedule::Static => quote!(Static),
            Schedule::Auto | Schedule::Runtime => quote!(Auto),
            Schedule::Dynamic(k) => {
                let k = k.as_ref().map_or(quote!(1), |k| quote!(#k));
                quote!(Dynamic(#k))
            }
            Schedule::Guided(k) => {
                let k = k.as_ref().map_or(quote!(1), |k| quote!(#k));
                quote!(Guided(#k))
            }
        };
        opts = quote!(#opts.schedule(#krate::Schedule::#s));
    }
    if let Some(t) = &c.timeout {
        opts = quote!(#opts.timeout(#t));
    }
    match &c.progress {
        Some((_, Some(label))) => opts = quote!(#opts.progress_label(#label)),
        Some((_, None)) => opts = quote!(#opts.progress(true)),
        None => {}
    }
    if c.report.is_some() {
        opts = quote!(#opts.report(true));
    }
    if let Some(cond) = &c.if_ {
        opts = quote!(#opts.parallel(#cond));
    }
    if let Some(n) = &c.retries {
        opts = quote!(#opts.retries(#n));
    }
    if c.retry_panics.is_some() {
        opts = quote!(#opts.retry_panics(true));
    }
    if let Some(handle) = &c.cancel {
        opts = quote!(#opts.cancel(&#handle));
    }
    if let Some(bytes) = &c.memory_limit {
        opts = quote!(#opts.memory_limit(#bytes));
    }
    if let Some(n) = &c.threads_per_worker {
        opts = quote!(#opts.threads_per_worker(#n));
    }
    if let Some((span, policy)) = &c.proc_bind {
        let variant = match policy {
            crate::ast::ProcBind::Close => quote::format_ident!("Close", span = *span),
            crate::ast::ProcBind::Spread => quote::format_ident!("Spread", span = *span),
            crate::ast::ProcBind::False => quote::format_ident!("False", span = *span),
        };
        opts = quote!(#opts.proc_bind(#krate::ProcBind::#variant));
    }
    opts
}

/// Integer ranges and `IntoSource` types go lazy or by index; any other iterable is
/// materialised (autoref specialisation picks between the two); `stream` ships items.
fn source(l: &ParLoop) -> TokenStream {
    let krate = &l.krate;
    let iter = &l.iter;
    if l.clauses.stream.is_some() {
        return quote_spanned!(iter.span()=> #krate::stream(#iter));
    }
    source_of(krate, iter)
}

/// The source of any iterable (see [`source`]), checked to have no items that hold a `&mut`:
/// a change through one would be made in a worker's copy and lost (`__private::MutCheck`; the
/// in-place forms are recognised before this, in `in_place`).
pub fn source_of(krate: &TokenStream, iter: &syn::Expr) -> TokenStream {
    quote_spanned!(iter.span()=> {
        #[allow(unused_imports)]
        use #krate::__private::{MutFirst as _, MutSecond as _, MutTop as _, NoMut as _, ViaIter as _, ViaSource as _};
        let __par_iterable = #krate::__private::Iterable(#iter);
        let __par_kind = (&__par_iterable).__par_kind();
        let __par_check = #krate::__private::MutCheck::of(&__par_kind, &__par_iterable.0);
        let __par_source = __par_kind.__par_source(__par_iterable.0);
        (&&&__par_check.and(&__par_source)).__par_no_mut();
        __par_source
    })
}

/// The `ops` trait of an operator (`None` for a `fn` path).
fn op_trait(op: &Op) -> Option<TokenStream> {
    Some(match op {
        Op::Add | Op::Sub => quote!(Sum),
        Op::Mul => quote!(Product),
        Op::Min => quote!(Min),
        Op::Max => quote!(Max),
        Op::BitAnd => quote!(BitAnd),
        Op::BitOr => quote!(BitOr),
        Op::BitXor => quote!(BitXor),
        Op::And => quote!(And),
        Op::Or => quote!(Or),
        Op::Fn(_) => return None,
    })
}

/// A grain's starting value: the operator's identity, never the variable's value (that is
/// combined once, after the loop), except for `min` and `max` on types compared as a whole,
/// which have none (see `ops`). A `fn` path's identity is the one the clause names
/// (`reduce(f = IDENTITY: v)`, typed like `v`) or else `Default::default()`. An operator's
/// private copy travels in an `ops::Wire` (arrays of any length, `Vec`s in bulk).
fn identity(krate: &TokenStream, r: &Reduction) -> TokenStream {
    let var = &r.var;
    if let Some(e) = &r.identity {
        return quote_spanned!(e.span()=> #krate::__private::ops::typed_like(&#var, #e));
    }
    match op_trait(&r.op) {
        Some(t) => quote_spanned!(var.span()=>
            #krate::__private::ops::wire_like(&#var, <_ as #krate::__private::ops::#t>::identity(&#var))),
        None => quote_spanned!(var.span()=> #krate::__private::ops::fn_identity(&#var)),
    }
}

/// How the clause writes an operator (for messages).
fn symbol(op: &Op) -> &'static str {
    match op {
        Op::Add => "+",
        Op::Sub => "-",
        Op::Mul => "*",
        Op::Min => "min",
        Op::Max => "max",
        Op::BitAnd => "&",
        Op::BitOr => "|",
        Op::BitXor => "^",
        Op::And => "&&",
        Op::Or => "||",
        Op::Fn(_) => "fn",
    }
}

/// Combines two values of a reduction variable (unwrapped).
fn combine(krate: &TokenStream, r: &Reduction, a: TokenStream, b: TokenStream) -> TokenStream {
    match (&r.op, op_trait(&r.op)) {
        // OpenMP: a `-` reduction's partials are combined by adding them (`ops::Sum`).
        (_, Some(t)) => {
            quote_spanned!(r.var.span()=> #krate::__private::ops::#t::combine(#a, #b))
        }
        (Op::Fn(path), None) => quote!(#path(#a, #b)),
        (_, None) => unreachable!("only a fn path has no ops trait"),
    }
}

/// `reduce(OP: var, ...)`: each grain folds into private copies that start from the operators'
/// identities; the body mutates them under the variables' own names; the parent combines the
/// partials in item order and then into the variables, as OpenMP does.
fn reduce(
    l: &ParLoop,
    reductions: &[Reduction],
    opts: &TokenStream,
    src: &TokenStream,
) -> TokenStream {
    let krate = &l.krate;
    let (pat, body) = (&l.pat, &l.body);
    let result = quote!(::core::result::Result);
    let body_error = quote!(#krate::__private::BodyError);
    let ids: Vec<_> = reductions.iter().map(|r| identity(krate, r)).collect();
    let idx: Vec<_> = (0..reductions.len()).map(syn::Index::from).collect();
    let wire = quote!(#krate::__private::ops::Wire);
    // An operator's copy travels wrapped: `.0` of the partial is the value.
    let unwrapped = |r: &Reduction, e: TokenStream| match op_trait(&r.op) {
        Some(_) => quote!(#e.into_public()),
        None => e,
    };
    let wrapped = |r: &Reduction, e: TokenStream| match op_trait(&r.op) {
        Some(_) => quote!(#wire::from_public(#e)),
        None => e,
    };
    // The body's binding and its way back: the private form (an array boxed, see `ops`).
    let private = |r: &Reduction, e: TokenStream| match op_trait(&r.op) {
        Some(_) => quote!(#wire(#e)),
        None => e,
    };
    let merged: Vec<_> = reductions
        .iter()
        .zip(&idx)
        .map(|(r, i)| {
            let a = unwrapped(r, quote!(__par_a.#i));
            let b = unwrapped(r, quote!(__par_b.#i));
            wrapped(r, combine(krate, r, a, b))
        })
        .collect();
    let finals: Vec<_> = reductions
        .iter()
        .zip(&idx)
        .map(|(r, i)| {
            // Through a temporary: `v = v + p` in the user's crate would trip clippy's
            // `assign_op_pattern`, and `v += p` does not exist for `min`, `&&` or a fn path.
            let var = &r.var;
            let p = unwrapped(r, quote!(__par_p.#i));
            let merged = combine(krate, r, quote!(__par_old), p);
            quote!({
                let __par_old = #var;
                #var = #merged;
            })
        })
        .collect();
    // The private copies are bound by a `match` arm, not a `let`, and spanned on the user's
    // variable: when the body calls a method on an ambiguous `{float}` copy, rustc's "specify a
    // type for this binding" then labels the user's `reduce(+: s)` instead of suggesting `: f32`
    // inside par's own macro. The grain's accumulator moves through the body by value: no copy
    // and no placeholder per item.
    let copies = reductions.iter().map(|r| {
        let v = &r.var;
        private(r, quote_spanned!(v.span()=> mut #v))
    });
    let binds = quote!( #[allow(unused_mut)] ( #( #copies, )* ) );
    let back: Vec<_> = reductions
        .iter()
        .map(|r| private(r, r.var.to_token_stream()))
        .collect();
    let back = quote!( ( #( #back, )* ) );
    // A `Vec` reduction's length is checked after each item (a panic of that item, naming the
    // clause), so that its partials combine element by element, never truncated.
    let shapes: Vec<_> = reductions
        .iter()
        .zip(&idx)
        .filter(|(r, _)| op_trait(&r.op).is_some())
        .map(|(r, i)| {
            let v = &r.var;
            let shape = quote::format_ident!("__par_shape_{}", v);
            let clause = format!("reduce({}: {})", symbol(&r.op), v);
            (
                quote!(let #shape = __par_acc.#i.shape();),
                quote!(#shape.check(&#v, #clause);),
            )
        })
        .collect();
    let before = shapes.iter().map(|(b, _)| b);
    let after = shapes.iter().map(|(_, a)| a);
    let before = quote!( #( #before )* );
    let after = quote!( #( #after )* );
    let run = quote!(for #pat in ::core::iter::once(__par_item) #body);
    let combine = quote!(|__par_a, __par_b| ( #( #merged, )* ));
    // `keep_going`: the reductions get the items that succeeded, and the loop's value is the
    // failures (`Vec<par::Error>`, in item order).
    let keep_going = l.clauses.keep_going.is_some();
    let (try_method, method, value) = if keep_going {
        (
            quote!(__try_reduce_each_by_value),
            quote!(__reduce_each_by_value),
            quote!(__par_failed),
        )
    } else {
        (
            quote!(__try_reduce_by_value),
            quote!(__reduce_by_value),
            quote!(()),
        )
    };
    // Without keep-going the block ends with the last final (its value is `()`).
    let tail = if keep_going {
        quote!(__par_failed)
    } else {
        TokenStream::new()
    };
    let got = if keep_going {
        quote!((__par_p, __par_failed))
    } else {
        quote!(__par_p)
    };
    if l.clauses.try_.is_some() {
        quote!(
            match #opts.#try_method(
                #src,
                || ( #( #ids, )* ),
                |__par_acc, __par_item| -> #result<_, ::std::string::String> {
                    #before
                    match __par_acc {
                        #binds => {
                            let __par_r: #result<(), #body_error> = (|| { #run; #result::Ok(()) })();
                            match __par_r {
                                #result::Ok(()) => {
                                    #after
                                    #result::Ok(#back)
                                }
                                #result::Err(__par_e) => #result::Err(#body_error::into_message(__par_e)),
                            }
                        }
                    }
                },
                #combine,
            ) {
                #result::Ok(#got) => {
                    #( #finals )*
                    #result::Ok(#value)
                }
                #result::Err(__par_e) => #result::Err(__par_e),
            }
        )
    } else {
        quote!({
            let #got = #opts.#method(
                #src,
                || ( #( #ids, )* ),
                |__par_acc, __par_item| {
                    #before
                    match __par_acc {
                        #binds => {
                            #run
                            #after
                            #back
                        }
                    }
                },
                #combine,
            );
            #( #finals )*
            #tail
        })
    }
}

/// `private(x, ...)`: the body starts with `let mut x = x.clone();` for each variable, so each
/// item changes its own copy of the value from before the loop, in a worker or inline alike,
/// and the body's closure still only reads `x` (it stays `Fn`). The statements are put before
/// the body's own, in the same block, so that its value and its `continue`s are unchanged.
pub fn privatize(l: &mut ParLoop) {
    let Some((_, vars)) = &l.clauses.private else {
        return;
    };
    let copies: Vec<syn::Stmt> = vars
        .iter()
        .map(|v| {
            syn::parse_quote_spanned!(v.span()=>
                #[allow(unused_mut)]
                let mut #v = ::core::clone::Clone::clone(&#v);
            )
        })
        .collect();
    l.body.stmts.splice(0..0, copies);
}
