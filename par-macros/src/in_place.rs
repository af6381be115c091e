//! In-place loops: `for x in v.iter_mut()`, `for x in &mut v`, `for c in v.chunks_mut(k)`,
//! `chunks_exact_mut(k)`, each optionally `.enumerate()`d and `.zip`ped with a read-only
//! iterable (on either side). Recognised from the iterable's tokens, they expand to the
//! runtime's `__private::in_place`, which writes the workers' changes back into `v`. Any other
//! iterable whose items hold a `&mut` is refused at compile time by the type-level check that
//! `expand::source` adds (`__private::MutCheck`), so no loop loses its writes in silence.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Expr;
use syn::spanned::Spanned;

use crate::ast::ParLoop;
use crate::ctxt::Ctxt;

/// What an in-place loop's item is made of.
enum Shape {
    /// `&mut` one element.
    Element,
    /// `&mut [T]`: one chunk.
    Chunk,
    /// `(index, inner)`.
    Enumerate(Box<Shape>),
    /// `(inner, other's item)`.
    ZipAfter(Box<Shape>),
    /// `(other's item, inner)`.
    ZipBefore(Box<Shape>),
}

pub struct InPlace {
    /// The collection changed in place (`v` in `v.iter_mut()`).
    target: Expr,
    /// `chunks_mut(k)`: `k`, and whether it is `chunks_exact_mut`.
    chunk: Option<(Expr, bool)>,
    shape: Shape,
    /// The read-only side of a `zip`.
    other: Option<Expr>,
}

/// The in-place form `iter` spells, if any.
pub fn detect(iter: &Expr) -> Option<InPlace> {
    let (shape, base, other) = shape(iter)?;
    let (target, chunk) = base;
    Some(InPlace {
        target,
        chunk,
        shape,
        other,
    })
}

type Base = (Expr, Option<(Expr, bool)>);

fn method<'a>(e: &'a Expr, name: &str, args: usize) -> Option<&'a syn::ExprMethodCall> {
    match e {
        Expr::MethodCall(m) if m.method == name && m.args.len() == args => Some(m),
        _ => None,
    }
}

/// The innermost part: `v.iter_mut()`, `&mut v`, `v.chunks_mut(k)`, `v.chunks_exact_mut(k)`.
fn base(e: &Expr) -> Option<Base> {
    if let Expr::Paren(p) = e {
        return base(&p.expr);
    }
    if let Some(m) = method(e, "iter_mut", 0) {
        return Some(((*m.receiver).clone(), None));
    }
    if let Expr::Reference(r) = e
        && r.mutability.is_some()
    {
        return Some(((*r.expr).clone(), None));
    }
    for (name, exact) in [("chunks_mut", false), ("chunks_exact_mut", true)] {
        if let Some(m) = method(e, name, 1) {
            return Some(((*m.receiver).clone(), Some((m.args[0].clone(), exact))));
        }
    }
    None
}

fn shape(e: &Expr) -> Option<(Shape, Base, Option<Expr>)> {
    if let Some(b) = base(e) {
        let leaf = if b.1.is_some() {
            Shape::Chunk
        } else {
            Shape::Element
        };
        return Some((leaf, b, None));
    }
    if let Some(m) = method(e, "enumerate", 0) {
        let (inner, b, other) = shape(&m.receiver)?;
        return Some((Shape::Enumerate(Box::new(inner)), b, other));
    }
    if let Some(m) = method(e, "zip", 1) {
        // One zip, with one in-place side.
        if let Some((inner, b, None)) = shape(&m.receiver) {
            return Some((Shape::ZipAfter(Box::new(inner)), b, Some(m.args[0].clone())));
        }
        if let Some((inner, b, None)) = shape(&m.args[0]) {
            return Some((
                Shape::ZipBefore(Box::new(inner)),
                b,
                Some((*m.receiver).clone()),
            ));
        }
    }
    None
}

/// The item the body's pattern binds, from the runtime's index, part and zipped item.
fn item(s: &Shape) -> TokenStream {
    match s {
        Shape::Element => quote!(&mut __par_part[0]),
        Shape::Chunk => quote!(__par_part),
        Shape::Enumerate(inner) => {
            let inner = item(inner);
            quote!((__par_i, #inner))
        }
        Shape::ZipAfter(inner) => {
            let inner = item(inner);
            quote!((#inner, __par_extra))
        }
        Shape::ZipBefore(inner) => {
            let inner = item(inner);
            quote!((__par_extra, #inner))
        }
    }
}

/// Clauses that do not fit a loop whose work is to change its items.
pub fn check(cx: &Ctxt, l: &ParLoop) {
    if detect(&l.iter).is_none() {
        return;
    }
    let c = &l.clauses;
    let refused = [
        (c.reduce.as_ref().map(|r| r.0), "reduce"),
        (c.keep_going, "keep_going"),
        (c.find, "find"),
        (c.unordered, "unordered"),
        (c.ordered, "ordered"),
        (c.stream, "stream"),
    ];
    for (span, name) in refused {
        if let Some(span) = span {
            cx.syn_error(syn::Error::new(
                span,
                format!("`{name}` cannot be combined with an in-place loop (`iter_mut`, `chunks_mut`, `&mut v`); an in-place loop changes its items and has no values: remove `{name}`, or iterate read-only (`&v`) and return the new values from the body"),
            ));
        }
    }
}

/// The in-place loop: `__private::in_place(&opts, slice, chunk, exact, other, body)`.
pub fn expand(l: &ParLoop, ip: &InPlace, opts: &TokenStream) -> TokenStream {
    let krate = &l.krate;
    let (pat, body) = (&l.pat, &l.body);
    let result = quote!(::core::result::Result);
    let target = &ip.target;
    let (chunk, exact) = match &ip.chunk {
        Some((k, exact)) => (quote!(#k), *exact),
        None => (quote!(1usize), false),
    };
    let other = match &ip.other {
        Some(o) => crate::expand::source_of(krate, o),
        None => quote!(0..usize::MAX),
    };
    let item = item(&ip.shape);
    // A one-item `for`, so that `continue` skips the item as in any `par!` body.
    let run = quote!(for #pat in ::core::iter::once(#item) #body);
    // Method-call syntax reborrows the target as `v.iter_mut()` would (a `&mut Vec` binding
    // needs no `mut`); `in_place_slice`'s bound then names what cannot be updated in place.
    let slice = quote_spanned!(target.span()=> {
        #[allow(unused_imports)]
        use #krate::__private::InPlaceProbe as _;
        #krate::__private::in_place_slice((#target).__par_target())
    });
    let closure = if l.clauses.try_.is_some() {
        let body_error = quote!(#krate::__private::BodyError);
        quote!(
            #[allow(unused_variables)]
            |__par_i: usize, __par_part: &mut [_], __par_extra| -> #result<(), ::std::string::String> {
                let __par_r: #result<(), #body_error> = (|| { #run; #result::Ok(()) })();
                __par_r.map_err(#body_error::into_message)
            }
        )
    } else {
        quote!(
            #[allow(unused_variables)]
            |__par_i: usize, __par_part: &mut [_], __par_extra| {
                #run;
                #result::<(), ::core::convert::Infallible>::Ok(())
            }
        )
    };
    let call = if l.clauses.try_.is_some() {
        quote!(try_in_place)
    } else {
        quote!(in_place)
    };
    quote_spanned!(l.iter.span()=> #krate::__private::#call(&#opts, #slice, #chunk, #exact, #other, #closure))
}
