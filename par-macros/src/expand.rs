//! Writes the code for a checked [`ParLoop`]: `quote!` only, no decisions beyond the form.
//! Every emitted path is absolute, rooted at the `par` crate's path (`$crate` or `crate = ...`).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
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

/// The `ops` marker type of an operator (`None` for a `fn` path).
fn op_marker(op: &Op) -> Option<TokenStream> {
    Some(match op {
        // OpenMP: a `-` reduction's partials are combined by adding them.
        Op::Add | Op::Sub => quote!(SumOp),
        Op::Mul => quote!(ProductOp),
        Op::Min => quote!(MinOp),
        Op::Max => quote!(MaxOp),
        Op::BitAnd => quote!(BitAndOp),
        Op::BitOr => quote!(BitOrOp),
        Op::BitXor => quote!(BitXorOp),
        Op::And => quote!(AndOp),
        Op::Or => quote!(OrOp),
        Op::Fn(_) => return None,
    })
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

/// The types an operator takes, for the message on a type it does not.
fn takes(op: &Op) -> &'static str {
    match op {
        Op::Add | Op::Sub => {
            "`+` and `-` take numbers, and arrays `[T; N]` and `Vec<T>` of numbers, element by element"
        }
        Op::Mul => {
            "`*` takes numbers, and arrays `[T; N]` and `Vec<T>` of numbers, element by element"
        }
        Op::Min | Op::Max => {
            "`min` and `max` take numbers (floats ignore NaN), and any type that is `Ord + Clone` and travels (`serde::Serialize + serde::Deserialize`), compared as a whole: `char`, `String`, tuples, `Option`s, a struct deriving them; and arrays `[T; N]` and `Vec<T>` of them, element by element (a `Vec` or array of `Vec`s or arrays only down to numbers and std types)"
        }
        Op::BitAnd | Op::BitOr | Op::BitXor => {
            "`&`, `|` and `^` take integers and `bool`, and arrays `[T; N]` and `Vec<T>` of them, element by element"
        }
        Op::And | Op::Or => {
            "`&&` and `||` take `bool`, and arrays `[bool; N]` and `Vec<bool>`, element by element"
        }
        Op::Fn(_) => "",
    }
}

/// The reducer of an operator's reduction: `ops::Pick` on the variable's type picks it by
/// autoref specialisation (see `ops`), and the last choice, a local trait whose method is
/// bounded by a local marker trait, refuses the type with one error that names the clause as
/// the user wrote it (no `__private` path, no list of the runtime's impls).
fn reducer(krate: &TokenStream, r: &Reduction, marker: &TokenStream) -> TokenStream {
    let var = &r.var;
    let ops = quote!(#krate::__private::ops);
    let clause = format!("`reduce({}: {var})`", symbol(&r.op));
    let message = format!("{clause} cannot reduce a `{{Self}}`");
    let label = format!("`{var}` is a `{{Self}}`");
    let note = takes(&r.op);
    let other = format!(
        "for another type, name a function that combines two values: `reduce(f: {var})` with `fn f(a: T, b: T) -> T` (and `reduce(f = IDENTITY: {var})` where `T` has no `Default`)"
    );
    // `min` / `max`: a `Vec` or array of `Vec`s or arrays of a type compared as a whole is
    // refused (one level: element by element, the next: as a whole, a silent difference).
    let nested = if matches!(r.op, Op::Min | Op::Max) {
        quote_spanned!(var.span()=>
            #[allow(dead_code)]
            trait PickNested<T, O> {
                fn __par_reducer(&self) -> #ops::Unsupported<T, O>
                where
                    T: Reduce,
                {
                    #ops::Unsupported::new()
                }
            }
            impl<U, O> PickNested<::std::vec::Vec<::std::vec::Vec<U>>, O>
                for &&&#ops::Pick<::std::vec::Vec<::std::vec::Vec<U>>, O> {}
            impl<U, const M: usize, O> PickNested<::std::vec::Vec<[U; M]>, O>
                for &&&#ops::Pick<::std::vec::Vec<[U; M]>, O> {}
            impl<U, const N: usize, O> PickNested<[::std::vec::Vec<U>; N], O>
                for &&&#ops::Pick<[::std::vec::Vec<U>; N], O> {}
            impl<U, const M: usize, const N: usize, O> PickNested<[[U; M]; N], O>
                for &&&#ops::Pick<[[U; M]; N], O> {}
        )
    } else {
        TokenStream::new()
    };
    quote_spanned!(var.span()=> {
        #[allow(unused_imports)]
        use #ops::{PickArray as _, PickEachOrd as _, PickOp as _, PickOrd as _};
        #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note, note = #other)]
        #[allow(dead_code)]
        trait Reduce {}
        #[diagnostic::do_not_recommend]
        impl Reduce for #ops::Never {}
        #[allow(dead_code)]
        trait PickNone<T, O> {
            fn __par_reducer(&self) -> #ops::Unsupported<T, O>
            where
                T: Reduce,
            {
                #ops::Unsupported::new()
            }
        }
        impl<T, O> PickNone<T, O> for #ops::Pick<T, O> {}
        #nested
        (&&&&&#ops::Pick::of(&#var, #ops::#marker)).__par_reducer()
    })
}

/// The name of the reducer of the `i`-th reduction.
fn reducer_name(i: usize) -> syn::Ident {
    quote::format_ident!("__par_r{}", i)
}

/// `reduce(OP: var, ...)`: each grain folds into private copies that start from the operators'
/// identities; the body mutates them under the variables' own names; the parent combines the
/// partials in item order and then into the variables, as OpenMP does. An operator's reducer
/// (see [`reducer`]) does each step; a `fn` path is called directly.
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
    let idx: Vec<_> = (0..reductions.len()).map(syn::Index::from).collect();
    let reducers: Vec<_> = reductions
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let marker = op_marker(&r.op)?;
            let name = reducer_name(i);
            let value = reducer(krate, r, &marker);
            Some(quote!(let #name = #value;))
        })
        .collect();
    // One step of reduction `i`: by its reducer, or for a `fn` path as given.
    let step = |i: usize, method: TokenStream, args: TokenStream, plain: TokenStream| {
        let r = &reductions[i];
        match op_marker(&r.op) {
            Some(_) => {
                let name = reducer_name(i);
                quote_spanned!(r.var.span()=> #name.#method(#args))
            }
            None => plain,
        }
    };
    let ids: Vec<_> = reductions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let var = &r.var;
            let plain = match &r.identity {
                Some(e) => quote_spanned!(e.span()=> #krate::__private::ops::typed_like(&#var, #e)),
                None => quote_spanned!(var.span()=> #krate::__private::ops::fn_identity(&#var)),
            };
            step(i, quote!(start), quote!(&#var), plain)
        })
        .collect();
    let fn_call = |r: &Reduction, a: TokenStream, b: TokenStream| match &r.op {
        Op::Fn(path) => quote!(#path(#a, #b)),
        _ => TokenStream::new(),
    };
    let merged: Vec<_> = reductions
        .iter()
        .zip(&idx)
        .enumerate()
        .map(|(i, (r, x))| {
            let (a, b) = (quote!(__par_a.#x), quote!(__par_b.#x));
            step(
                i,
                quote!(merge),
                quote!(#a, #b),
                fn_call(r, a.clone(), b.clone()),
            )
        })
        .collect();
    let finals: Vec<_> = reductions
        .iter()
        .zip(&idx)
        .enumerate()
        .map(|(i, (r, x))| {
            // Through a temporary: `v = v + p` in the user's crate would trip clippy's
            // `assign_op_pattern`, and `v += p` does not exist for `min`, `&&` or a fn path.
            let var = &r.var;
            let (old, p) = (quote!(__par_old), quote!(__par_p.#x));
            let merged = step(
                i,
                quote!(finish),
                quote!(#old, #p),
                fn_call(r, old.clone(), p.clone()),
            );
            quote!({
                let __par_old = #var;
                #var = #merged;
            })
        })
        .collect();
    // The private copies are bound by a `match` arm, not a `let`, spanned on the user's
    // variable, and typed as the variable itself (the reducer's `open` names its type, no
    // projection): when the body calls a method on an ambiguous `{float}` copy, rustc says
    // "ambiguous numeric type" and labels the user's `reduce(+: s)` instead of suggesting
    // `: f32` inside par's own macro. The grain's accumulator moves through the body by value:
    // no copy and no placeholder per item.
    let opened: Vec<_> = idx
        .iter()
        .enumerate()
        .map(|(i, x)| step(i, quote!(open), quote!(__par_acc.#x), quote!(__par_acc.#x)))
        .collect();
    let copies = reductions.iter().map(|r| {
        let v = &r.var;
        quote_spanned!(v.span()=> mut #v)
    });
    let binds = quote!( #[allow(unused_mut)] ( #( #copies, )* ) );
    let back: Vec<_> = reductions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let v = &r.var;
            step(i, quote!(close), quote!(#v), quote!(#v))
        })
        .collect();
    let back = quote!( ( #( #back, )* ) );
    // A `Vec` reduction's length is checked after each item (a panic of that item, naming the
    // clause), so that its partials combine element by element, never truncated.
    let shapes: Vec<_> = reductions
        .iter()
        .enumerate()
        .filter(|(_, r)| op_marker(&r.op).is_some())
        .map(|(i, r)| {
            let v = &r.var;
            let name = reducer_name(i);
            let shape = quote::format_ident!("__par_shape{}", i);
            let clause = format!("reduce({}: {})", symbol(&r.op), v);
            (
                quote!(let #shape = #name.shape(&#v);),
                quote!(#name.check(#shape, &#v, #clause);),
            )
        })
        .collect();
    let before = shapes.iter().map(|(b, _)| b);
    let after = shapes.iter().map(|(_, a)| a);
    let before = quote!( #( #before )* );
    let after = quote!( #( #after )* );
    let run = quote!(for #pat in ::core::iter::once(__par_item) #body);
    let combine = quote!(|__par_a, __par_b| ( #( #merged, )* ));
    // Whether every reduction gives the same value however its items are grouped (integers,
    // `bool`, `Ord` types; never floats or a fn path): then a worker folds each chunk into one
    // partial. Keep-going reductions fold each item on its own and take no such argument.
    let exact: Vec<_> = reductions
        .iter()
        .enumerate()
        .map(|(i, r)| match op_marker(&r.op) {
            Some(_) => {
                let name = reducer_name(i);
                quote_spanned!(r.var.span()=> #name.exact())
            }
            None => quote!(false),
        })
        .collect();
    let exact = if l.clauses.keep_going.is_some() {
        TokenStream::new()
    } else {
        quote!(true #( && #exact )*,)
    };
    let open = quote!(( #( #opened, )* ));
    let vars = reductions.iter().map(|r| &r.var);
    let vars = quote!(( #( #vars, )* ));
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
        quote!({
            #( #reducers )*
            match #opts.#try_method(
                #src,
                || ( #( #ids, )* ),
                |__par_acc, __par_item| -> #result<_, ::std::string::String> {
                    match #open {
                        #binds => {
                            #before
                            // The copies go into the closure and come back out of it by
                            // value: a body that moves one (`best = best.max(x)`) compiles.
                            let __par_r = (|| { #run; #result::<_, #body_error>::Ok(#vars) })();
                            match __par_r {
                                #result::Ok(#vars) => {
                                    #after
                                    #result::Ok(#back)
                                }
                                #result::Err(__par_e) => #result::Err(#body_error::into_message(__par_e)),
                            }
                        }
                    }
                },
                #combine,
                #exact
            ) {
                #result::Ok(#got) => {
                    #( #finals )*
                    #result::Ok(#value)
                }
                #result::Err(__par_e) => #result::Err(__par_e),
            }
        })
    } else {
        quote!({
            #( #reducers )*
            let #got = #opts.#method(
                #src,
                || ( #( #ids, )* ),
                |__par_acc, __par_item| {
                    match #open {
                        #binds => {
                            #before
                            #run
                            #after
                            #back
                        }
                    }
                },
                #combine,
                #exact
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
