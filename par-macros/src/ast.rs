//! Parses `$crate; clause, clause, ..., for PAT in EXPR { BODY }` into a [`ParLoop`].

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Pat, Path, Token};

use crate::ctxt::Ctxt;

/// The valid clauses, in the order the error message lists them.
pub const CLAUSES: &str = "`workers`, `schedule`, `timeout`, `progress`, `report`, `if`, `retries`, `retry_panics`, `cancel`, `memory_limit`, `threads_per_worker`, `proc_bind`, `find`, `keep_going`, `unordered`, `ordered`, `try`, `stream`, `reduce`, `private`, `collapse`, `crate`";

pub struct ParLoop {
    /// The path of the `par` crate: `$crate` from the facade, or the `crate = ...` clause.
    pub krate: TokenStream,
    pub clauses: Clauses,
    pub pat: Pat,
    pub iter: Expr,
    pub body: syn::Block,
    /// `@ranks` before `$crate`: the facade has its `mpi` feature, so a body that is one call
    /// may run on MPI ranks (see `ranks.rs`).
    pub ranks: bool,
}

#[derive(Default)]
pub struct Clauses {
    pub workers: Option<Expr>,
    pub schedule: Option<Schedule>,
    pub timeout: Option<Expr>,
    /// `progress`, or `progress = "rows"`: the bar, saying what it counts.
    pub progress: Option<(Span, Option<Expr>)>,
    /// `report`: the loop's report on stderr when it ends (`Loop::report`).
    pub report: Option<Span>,
    /// `if = cond`: OpenMP's `if` clause (`Loop::parallel`).
    pub if_: Option<Expr>,
    pub retries: Option<Expr>,
    pub retry_panics: Option<Span>,
    /// `cancel = handle`: a `par::Cancel` that stops the loop.
    pub cancel: Option<Expr>,
    /// `memory_limit = bytes`: each worker's data limit (`Loop::memory_limit`).
    pub memory_limit: Option<Expr>,
    /// `threads_per_worker = n`: thread pools' sizes in each worker (`Loop::threads_per_worker`).
    pub threads_per_worker: Option<Expr>,
    /// `proc_bind = close | spread | false`: OpenMP's binding of workers to places
    /// (`Loop::proc_bind`).
    pub proc_bind: Option<(Span, ProcBind)>,
    /// `find`: the body is a predicate; the loop's value is `Option<usize>`, the index of an
    /// item for which it held, and the first hit stops the search.
    pub find: Option<Span>,
    /// `keep_going`: one `Result` per item; a failure fails only its item.
    pub keep_going: Option<Span>,
    pub unordered: Option<Span>,
    /// `ordered`: an iterator of the values in item order, each as soon as it is due.
    pub ordered: Option<Span>,
    pub try_: Option<Span>,
    pub stream: Option<Span>,
    pub reduce: Option<(Span, Vec<Reduction>)>,
    /// `private(x, buf)`: each item works on its own clone of each variable, made from the value
    /// from before the loop; its changes are dropped (OpenMP's `firstprivate`).
    pub private: Option<(Span, Vec<Ident>)>,
    /// `collapse(k)`: the body is `k - 1` nested `for` loops, and the `k`-deep rectangular nest
    /// is one iteration space (OpenMP's `collapse(k)`; see `collapse.rs`).
    pub collapse: Option<(Span, syn::LitInt)>,
}

pub enum Schedule {
    Static,
    Dynamic(Option<Expr>),
    Guided(Option<Expr>),
    Auto,
    /// `schedule = runtime`: from `PAR_SCHEDULE` (`Loop::schedule_from_env`).
    Runtime,
}

/// A `proc_bind` policy: the variant of `par::ProcBind` it names.
pub enum ProcBind {
    Close,
    Spread,
    False,
}

pub struct Reduction {
    pub op: Op,
    pub var: Ident,
    /// `reduce(f = IDENTITY: v)`: the identity a `fn`-path reduction's grains start from.
    pub identity: Option<Expr>,
}

#[derive(Clone)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Min,
    Max,
    BitAnd,
    BitOr,
    BitXor,
    And,
    Or,
    Fn(Path),
}

/// Parses the macro input, recording every problem in `cx`. `None` if nothing usable remains.
pub fn parse(cx: &Ctxt, input: TokenStream) -> Option<ParLoop> {
    let parser = |input: ParseStream| parse_loop(cx, input);
    match parser.parse2(input) {
        Ok(l) => l,
        Err(e) => {
            cx.syn_error(e);
            None
        }
    }
}

fn parse_loop(cx: &Ctxt, input: ParseStream) -> syn::Result<Option<ParLoop>> {
    // `@ranks` (from the facade with its `mpi` feature), then `$crate ;` (or any path the
    // facade passes).
    let ranks = input.peek(Token![@]);
    if ranks {
        input.parse::<Token![@]>()?;
        input.parse::<Ident>()?;
    }
    let mut krate = TokenStream::new();
    while !input.peek(Token![;]) {
        krate.extend([input.parse::<TokenTree>()?]);
    }
    input.parse::<Token![;]>()?;
    let mut clauses = Clauses::default();
    while !input.peek(Token![for]) {
        if input.is_empty() {
            return Err(input.error(
                "expected a `for` loop: `par!(for PAT in EXPR { BODY })`, optionally after clauses such as `workers = 4,`",
            ));
        }
        if let Err(e) = parse_clause(cx, input, &mut clauses, &mut krate) {
            cx.syn_error(e);
            skip_to_comma(input);
        }
        if !input.peek(Token![for]) {
            input.parse::<Token![,]>()?;
        }
    }
    input.parse::<Token![for]>()?;
    let pat = Pat::parse_multi_with_leading_vert(input)?;
    input.parse::<Token![in]>()?;
    let iter = Expr::parse_without_eager_brace(input)?;
    let body: syn::Block = input.parse()?;
    if input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
    }
    if !input.is_empty() {
        let rest: TokenStream = input.parse()?;
        cx.error_spanned_by(
            &rest,
            "clauses go before the `for` loop: write `par!(workers = 4, for x in xs { ... })`",
        );
    }
    Ok(Some(ParLoop {
        krate,
        clauses,
        pat,
        iter,
        body,
        ranks,
    }))
}

/// `close`, `spread` or `false` (OpenMP's `proc_bind` clause, and `false` as in
/// `OMP_PROC_BIND=false`, to leave a loop unbound whatever `PAR_PROC_BIND` says).
fn parse_proc_bind(input: ParseStream) -> syn::Result<ProcBind> {
    if input.peek(syn::LitBool) {
        let b: syn::LitBool = input.parse()?;
        if !b.value {
            return Ok(ProcBind::False);
        }
        return Err(syn::Error::new_spanned(
            b,
            "`proc_bind = true` names no policy; write `proc_bind = close` (workers on neighbouring places) or `proc_bind = spread` (spread over the places)",
        ));
    }
    let value: Expr = input.parse()?;
    if let Expr::Path(p) = &value
        && let Some(id) = p.path.get_ident()
    {
        match id.to_string().as_str() {
            "close" => return Ok(ProcBind::Close),
            "spread" => return Ok(ProcBind::Spread),
            _ => {}
        }
    }
    Err(syn::Error::new_spanned(
        &value,
        format!(
            "unknown `proc_bind` policy `{}`; expected `close`, `spread` or `false`",
            quote::ToTokens::to_token_stream(&value)
        ),
    ))
}

fn skip_to_comma(input: ParseStream) {
    while !input.is_empty() && !input.peek(Token![,]) && !input.peek(Token![for]) {
        if input.parse::<TokenTree>().is_err() {
            break;
        }
    }
}

fn duplicate(span: Span, name: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!("duplicate `{name}` clause; give each clause once"),
    )
}

fn set<T>(slot: &mut Option<T>, value: T, span: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(duplicate(span, name));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_clause(
    cx: &Ctxt,
    input: ParseStream,
    c: &mut Clauses,
    krate: &mut TokenStream,
) -> syn::Result<()> {
    if input.peek(Token![try]) {
        let t: Token![try] = input.parse()?;
        return set(&mut c.try_, t.span, t.span, "try");
    }
    if input.peek(Token![if]) {
        let t: Token![if] = input.parse()?;
        input.parse::<Token![=]>()?;
        return set(&mut c.if_, input.parse()?, t.span, "if");
    }
    if input.peek(Token![crate]) {
        let t: Token![crate] = input.parse()?;
        input.parse::<Token![=]>()?;
        let path: Path = input.parse()?;
        *krate = quote::quote!(#path);
        let _ = t;
        return Ok(());
    }
    let name: Ident = input.call(syn::ext::IdentExt::parse_any)?;
    let span = name.span();
    match name.to_string().as_str() {
        "workers" => {
            input.parse::<Token![=]>()?;
            set(&mut c.workers, input.parse()?, span, "workers")
        }
        "timeout" => {
            input.parse::<Token![=]>()?;
            set(&mut c.timeout, input.parse()?, span, "timeout")
        }
        "schedule" => {
            input.parse::<Token![=]>()?;
            let s = parse_schedule(input)?;
            set(&mut c.schedule, s, span, "schedule")
        }
        "progress" => {
            let label = if input.peek(Token![=]) {
                input.parse::<Token![=]>()?;
                Some(input.parse()?)
            } else {
                None
            };
            set(&mut c.progress, (span, label), span, "progress")
        }
        "report" => {
            if input.peek(Token![=]) {
                let eq: Token![=] = input.parse()?;
                let value: Expr = input.parse()?;
                return Err(syn::Error::new_spanned(
                    quote::quote!(#name #eq #value),
                    "`report` takes no value: write `report` to print the loop's report when it ends (or `PAR_REPORT=1` for every loop)",
                ));
            }
            set(&mut c.report, span, span, "report")
        }
        "retries" => {
            input.parse::<Token![=]>()?;
            set(&mut c.retries, input.parse()?, span, "retries")
        }
        "retry_panics" => set(&mut c.retry_panics, span, span, "retry_panics"),
        "find" => set(&mut c.find, span, span, "find"),
        "keep_going" => set(&mut c.keep_going, span, span, "keep_going"),
        "cancel" => {
            input.parse::<Token![=]>()?;
            set(&mut c.cancel, input.parse()?, span, "cancel")
        }
        "memory_limit" => {
            input.parse::<Token![=]>()?;
            set(&mut c.memory_limit, input.parse()?, span, "memory_limit")
        }
        "threads_per_worker" => {
            input.parse::<Token![=]>()?;
            set(
                &mut c.threads_per_worker,
                input.parse()?,
                span,
                "threads_per_worker",
            )
        }
        "proc_bind" => {
            input.parse::<Token![=]>()?;
            let policy = parse_proc_bind(input)?;
            set(&mut c.proc_bind, (span, policy), span, "proc_bind")
        }
        "unordered" => set(&mut c.unordered, span, span, "unordered"),
        "ordered" => set(&mut c.ordered, span, span, "ordered"),
        "stream" => set(&mut c.stream, span, span, "stream"),
        "reduce" => {
            let content;
            syn::parenthesized!(content in input);
            let mut reductions = Vec::new();
            while !content.is_empty() {
                reductions.extend(parse_reduction(cx, &content)?);
            }
            if reductions.is_empty() {
                return Err(syn::Error::new(
                    span,
                    "empty `reduce()`; name at least one variable: `reduce(+: total)`",
                ));
            }
            set(&mut c.reduce, (span, reductions), span, "reduce")
        }
        "private" => {
            let content;
            syn::parenthesized!(content in input);
            let mut vars = Vec::new();
            while !content.is_empty() {
                vars.push(parse_private_var(cx, &content)?);
                if !content.is_empty() {
                    content.parse::<Token![,]>()?;
                }
            }
            if vars.is_empty() {
                return Err(syn::Error::new(
                    span,
                    "empty `private()`; name the variables each item gets its own copy of: `private(buf)`",
                ));
            }
            set(&mut c.private, (span, vars), span, "private")
        }
        "collapse" => {
            let content;
            syn::parenthesized!(content in input);
            // All of the parentheses' tokens are taken first, so that a wrong argument is
            // one error (not also syn's "expected `)`").
            let args: TokenStream = content.parse()?;
            let depth: syn::LitInt = syn::parse2(args.clone()).map_err(|_| {
                syn::Error::new_spanned(
                    &args,
                    "`collapse` takes the number of nested loops to merge, a literal: `collapse(2)`",
                )
            })?;
            match depth.base10_parse::<usize>() {
                Ok(k) if k >= 1 => {}
                _ => {
                    return Err(syn::Error::new_spanned(
                        &depth,
                        "`collapse(k)` needs `k` of at least 1 (the loop and its `k - 1` nested loops): `collapse(2)`",
                    ));
                }
            }
            set(&mut c.collapse, (span, depth), span, "collapse")
        }
        other => Err(syn::Error::new(
            span,
            format!("unknown `par!` clause `{other}`; expected one of: {CLAUSES}"),
        )),
    }
}

fn parse_schedule(input: ParseStream) -> syn::Result<Schedule> {
    if input.peek(Token![static]) {
        input.parse::<Token![static]>()?;
        return Ok(Schedule::Static);
    }
    let kind: Ident = input.parse()?;
    let arg = |input: ParseStream| -> syn::Result<Option<Expr>> {
        if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            Ok(Some(content.parse()?))
        } else {
            Ok(None)
        }
    };
    match kind.to_string().as_str() {
        "dynamic" => Ok(Schedule::Dynamic(arg(input)?)),
        "guided" => Ok(Schedule::Guided(arg(input)?)),
        "auto" => Ok(Schedule::Auto),
        "runtime" => Ok(Schedule::Runtime),
        other => Err(syn::Error::new(
            kind.span(),
            format!(
                "unknown schedule `{other}`; expected `static`, `dynamic(CHUNK)`, `guided`, `guided(MIN)`, `auto` or `runtime` (from `PAR_SCHEDULE`)"
            ),
        )),
    }
}

/// One operator group: `OP: v`, `OP: a, b, c` (OpenMP's `reduction(+: a, b)`), or for a
/// `fn` path `f = IDENTITY: v`, up to the next group or the end, its trailing comma eaten.
fn parse_reduction(cx: &Ctxt, input: ParseStream) -> syn::Result<Vec<Reduction>> {
    let op = parse_op(input)?;
    let identity = if input.peek(Token![=]) && !input.peek(Token![==]) {
        let eq = input.parse::<Token![=]>()?;
        let e: Expr = input.parse()?;
        if matches!(op, Op::Fn(_)) {
            Some(e)
        } else {
            cx.error_spanned_by(
                quote::quote!(#eq #e),
                "a built-in reduction operator has its own identity; `= IDENTITY` is for a `fn` path: `reduce(add2 = [0, 0]: q)`",
            );
            None
        }
    } else {
        None
    };
    input.parse::<Token![:]>()?;
    let mut out = Vec::new();
    loop {
        let var = parse_var(cx, input)?;
        out.push(Reduction {
            op: op.clone(),
            var,
            identity: identity.clone(),
        });
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
        if input.is_empty() || starts_group(input) {
            break;
        }
    }
    Ok(out)
}

/// Whether the input starts a new operator group (`max: m`, `+: s`, `f = e: v`) rather than
/// the next variable of the current one.
fn starts_group(input: ParseStream) -> bool {
    if input.peek(Token![&&])
        || input.peek(Token![||])
        || input.peek(Token![+])
        || input.peek(Token![-])
        || input.peek(Token![*])
        || input.peek(Token![&])
        || input.peek(Token![|])
        || input.peek(Token![^])
    {
        return true;
    }
    let fork = input.fork();
    fork.parse::<Path>().is_ok()
        && ((fork.peek(Token![:]) && !fork.peek(Token![::])) || fork.peek(Token![=]))
}

fn parse_op(input: ParseStream) -> syn::Result<Op> {
    Ok(if input.peek(Token![&&]) {
        input.parse::<Token![&&]>()?;
        Op::And
    } else if input.peek(Token![||]) {
        input.parse::<Token![||]>()?;
        Op::Or
    } else if input.peek(Token![+]) {
        input.parse::<Token![+]>()?;
        Op::Add
    } else if input.peek(Token![-]) {
        input.parse::<Token![-]>()?;
        Op::Sub
    } else if input.peek(Token![*]) {
        input.parse::<Token![*]>()?;
        Op::Mul
    } else if input.peek(Token![&]) {
        input.parse::<Token![&]>()?;
        Op::BitAnd
    } else if input.peek(Token![|]) {
        input.parse::<Token![|]>()?;
        Op::BitOr
    } else if input.peek(Token![^]) {
        input.parse::<Token![^]>()?;
        Op::BitXor
    } else {
        let path: Path = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "expected a reduction operator (`+ - * min max & | ^ && ||`) or the path of a `fn(T, T) -> T`")
        })?;
        match path.get_ident().map(|i| i.to_string()).as_deref() {
            Some("min") => Op::Min,
            Some("max") => Op::Max,
            _ => Op::Fn(path),
        }
    })
}

/// A `private` variable: a plain local variable name.
fn parse_private_var(cx: &Ctxt, input: ParseStream) -> syn::Result<Ident> {
    let e: Expr = input.parse()?;
    if let Expr::Path(p) = &e
        && let (None, Some(id)) = (&p.qself, p.path.get_ident())
    {
        return Ok(id.clone());
    }
    cx.error_spanned_by(
        &e,
        "a `private` variable must be a plain local variable name, e.g. `private(buf)`; each item gets a clone of it",
    );
    Ok(Ident::new("__par_invalid", e.span()))
}

fn parse_var(cx: &Ctxt, input: ParseStream) -> syn::Result<Ident> {
    let var_expr: Expr = input.parse()?;
    let var = match &var_expr {
        Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
            p.path.get_ident().cloned()
        }
        _ => None,
    };
    match var {
        Some(var) => Ok(var),
        None => {
            cx.error_spanned_by(
                &var_expr,
                "a reduction variable must be a plain local variable name, e.g. `reduce(+: total)`",
            );
            Ok(Ident::new("__par_invalid", var_expr.span()))
        }
    }
}
