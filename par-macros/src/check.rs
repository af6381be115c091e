//! The rules of `par!` (see its docs) that the compiler can't express, one function each.

use std::collections::HashSet;

use syn::visit::{self, Visit};
use syn::{Expr, Ident, Lifetime};

use crate::ast::ParLoop;
use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, l: &ParLoop) {
    unordered_with_reduce(cx, l);
    ordered_alone(cx, l);
    retries_for_collected_results(cx, l);
    body(cx, l);
}

/// `retry_panics` widens `retries`; alone it would do nothing. And an `unordered` loop hands
/// out results as they come, so it cannot run an item again: its retries would be ignored.
fn retries_for_collected_results(cx: &Ctxt, l: &ParLoop) {
    let c = &l.clauses;
    if let (Some(span), None) = (c.retry_panics, &c.retries) {
        cx.syn_error(syn::Error::new(
            span,
            "`retry_panics` without `retries`; say how many times an item may run again: `retries = 2, retry_panics`",
        ));
    }
    if let Some(span) = c.keep_going {
        if c.unordered.is_some() || c.find.is_some() {
            cx.syn_error(syn::Error::new(
                span,
                "`keep_going` cannot be combined with `unordered` or `find`; it collects one `Result` per item in order (or, with `reduce`, the failures): remove the other clause",
            ));
        }
    }
    if let Some(span) = c.find {
        if c.unordered.is_some() || c.reduce.is_some() {
            cx.syn_error(syn::Error::new(
                span,
                "`find` cannot be combined with `unordered` or `reduce`; `find` stops at the first item whose body is `true`: remove the other clause",
            ));
        }
    }
    if let (Some(span), Some(_)) = (c.unordered, &c.retries) {
        cx.syn_error(syn::Error::new(
            span,
            "`unordered` cannot be combined with `retries`; results already handed out cannot be taken back when an item runs again: collect the results instead (remove `unordered`)",
        ));
    }
}

/// `ordered` is a form of its own (an iterator of the values in item order): with another
/// form's clause one of the two would be ignored; and values already handed out cannot be
/// taken back when an item runs again.
fn ordered_alone(cx: &Ctxt, l: &ParLoop) {
    let c = &l.clauses;
    let Some(span) = c.ordered else { return };
    let other = [
        (c.unordered.is_some(), "unordered", "`unordered` yields values as they complete, `ordered` in item order: keep one"),
        (c.reduce.is_some(), "reduce", "a reduction yields one combined value, not a stream of values: remove `ordered`"),
        (c.find.is_some(), "find", "`find` stops at the first item whose body is `true`: remove `ordered`"),
        (c.keep_going.is_some(), "keep_going", "`keep_going` collects one `Result` per item; for values in order that stop at the first failure write `ordered, try`"),
        (c.retries.is_some(), "retries", "values already handed out cannot be taken back when an item runs again: collect the values instead (remove `ordered`)"),
    ];
    for (present, name, why) in other {
        if present {
            cx.syn_error(syn::Error::new(
                span,
                format!("`ordered` cannot be combined with `{name}`; {why}"),
            ));
        }
    }
}

/// `unordered` yields values as they complete; a reduction has no values to yield.
fn unordered_with_reduce(cx: &Ctxt, l: &ParLoop) {
    if let (Some(span), Some(_)) = (l.clauses.unordered, &l.clauses.reduce) {
        cx.syn_error(syn::Error::new(
            span,
            "`unordered` cannot be combined with `reduce`; a reduction yields one combined value, not a stream of results: remove `unordered`",
        ));
    }
}

/// What a body may not do because each iteration runs in a separate worker process.
fn body(cx: &Ctxt, l: &ParLoop) {
    let mut locals = Locals::default();
    locals.visit_pat(&l.pat);
    locals.visit_block(&l.body);
    let reductions = l
        .clauses
        .reduce
        .iter()
        .flat_map(|(_, r)| r.iter().map(|r| r.var.to_string()))
        .collect();
    let mut walker = Walker {
        cx,
        loop_depth: 0,
        labels: Vec::new(),
        locals: locals.0,
        reductions,
        question_mark: if l.clauses.try_.is_some() || ends_in_ok_or_err(&l.body) {
            QuestionMark::Allowed
        } else {
            QuestionMark::Forbidden
        },
    };
    walker.visit_block(&l.body);
}

/// Whether `?` is allowed in the body.
#[derive(Clone, Copy, PartialEq)]
enum QuestionMark {
    /// `try`, or a body whose value is a `Result` it builds itself (`... Ok(v)`): `?` returns
    /// from the body's own closure.
    Allowed,
    /// Anywhere else `?` has no `Result` to return into; rustc's own error would point at
    /// par's generated closure.
    Forbidden,
}

/// A body that ends in `Ok(..)` or `Err(..)` makes a `Result` of its own, and `?` returns
/// into it: `par!(for s in xs { let n = s.parse::<u32>().map_err(|e| e.to_string())?; Ok(n) })`.
fn ends_in_ok_or_err(body: &syn::Block) -> bool {
    let Some(syn::Stmt::Expr(Expr::Call(call), None)) = body.stmts.last() else {
        return false;
    };
    let Expr::Path(f) = &*call.func else {
        return false;
    };
    f.path
        .segments
        .last()
        .is_some_and(|s| s.ident == "Ok" || s.ident == "Err")
}

/// Every name bound anywhere in the body (scope-insensitive: a name bound in the body is
/// assumed to be the one assigned).
#[derive(Default)]
struct Locals(HashSet<String>);

impl Visit<'_> for Locals {
    fn visit_pat_ident(&mut self, p: &syn::PatIdent) {
        self.0.insert(p.ident.to_string());
        visit::visit_pat_ident(self, p);
    }
}

struct Walker<'a> {
    cx: &'a Ctxt,
    loop_depth: usize,
    labels: Vec<String>,
    locals: HashSet<String>,
    reductions: HashSet<String>,
    question_mark: QuestionMark,
}

/// Methods that change a value through a shared reference (atomics, locks, cells) or need the
/// variable itself to change (collections), with the number of arguments that identifies them:
/// `SharedVec::set(i, v)` (two arguments, shared memory that does reach the parent) is not
/// `Cell::set(v)`, and `RwLock::write()` is not `io::Write::write(buf)`.
const INTERIOR: &[(&str, Option<usize>, Fix)] = &[
    ("fetch_add", None, Fix::Sum),
    ("fetch_sub", None, Fix::Sum),
    ("fetch_max", None, Fix::Max),
    ("fetch_min", None, Fix::Min),
    ("fetch_and", None, Fix::Value),
    ("fetch_nand", None, Fix::Value),
    ("fetch_or", None, Fix::Value),
    ("fetch_xor", None, Fix::Value),
    ("fetch_update", None, Fix::Value),
    ("compare_exchange", None, Fix::Value),
    ("compare_exchange_weak", None, Fix::Value),
    ("store", Some(2), Fix::Value),
    ("swap", Some(2), Fix::Value),
    ("lock", Some(0), Fix::Value),
    ("try_lock", Some(0), Fix::Value),
    ("write", Some(0), Fix::Value),
    ("try_write", Some(0), Fix::Value),
    ("borrow_mut", Some(0), Fix::Value),
    ("try_borrow_mut", Some(0), Fix::Value),
    ("set", Some(1), Fix::Value),
    ("replace", Some(1), Fix::Value),
    ("take", Some(0), Fix::Value),
    ("push", Some(1), Fix::Collect),
    ("push_str", Some(1), Fix::Collect),
    ("push_back", Some(1), Fix::Collect),
    ("push_front", Some(1), Fix::Collect),
    ("insert", None, Fix::Collect),
    ("extend", Some(1), Fix::Collect),
    ("append", Some(1), Fix::Collect),
];

/// What to write instead of an interior mutation.
#[derive(Clone, Copy)]
enum Fix {
    Sum,
    Max,
    Min,
    Value,
    Collect,
}

fn label_name(l: &Option<Lifetime>) -> Option<String> {
    l.as_ref().map(|l| l.ident.to_string())
}

impl Walker<'_> {
    fn in_body(&self, label: &Option<Lifetime>) -> bool {
        match label_name(label) {
            Some(name) => self.labels.contains(&name),
            None => self.loop_depth > 0,
        }
    }

    fn in_loop<F: FnOnce(&mut Self)>(&mut self, label: &Option<syn::Label>, f: F) {
        self.loop_depth += 1;
        if let Some(l) = label {
            self.labels.push(l.name.ident.to_string());
        }
        f(self);
        if label.is_some() {
            self.labels.pop();
        }
        self.loop_depth -= 1;
    }

    /// The variable a place expression writes to: `x`, `x.f`, `x[i]`, `(x)`.
    fn root(place: &Expr) -> Option<&Ident> {
        match place {
            Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
            Expr::Field(f) => Self::root(&f.base),
            Expr::Index(i) => Self::root(&i.expr),
            Expr::Paren(p) => Self::root(&p.expr),
            _ => None,
        }
    }

    /// Mutating a variable captured from outside the loop would change only the worker's copy.
    fn mutation(&self, place: &Expr, what: &str) {
        let Some(var) = Self::root(place) else { return };
        let name = var.to_string();
        if self.locals.contains(&name) || self.reductions.contains(&name) {
            return;
        }
        self.cx.error_spanned_by(
            place,
            format!(
                "{what} `{name}`, a variable from outside of the `par!` loop body; each iteration runs in a separate worker process, so the change would be lost: declare it in a reduction (`reduce(+: {name})`) or return the value from the body and use the loop's result"
            ),
        );
    }
}

impl Walker<'_> {
    /// A change through a captured atomic, lock, cell or collection is made in the worker's copy
    /// of it: the parent never sees it, while `PAR_WORKERS=1` (inline) does, so the bug hides
    /// in sequential runs. A variable bound inside the body is the worker's own and fine.
    fn interior_mutation(&self, m: &syn::ExprMethodCall) {
        let method = m.method.to_string();
        let Some(&(_, _, fix)) = INTERIOR
            .iter()
            .find(|(name, args, _)| *name == method && args.is_none_or(|n| n == m.args.len()))
        else {
            return;
        };
        let Some(var) = Self::root(&m.receiver) else {
            return;
        };
        let name = var.to_string();
        if self.locals.contains(&name) || self.reductions.contains(&name) {
            return;
        }
        let instead = match fix {
            Fix::Sum => format!("declare a plain number in a reduction (`let mut {name} = 0; par!(reduce(+: {name}), for ... {{ {name} += 1; }})`)"),
            Fix::Max => format!("declare a plain number in a reduction (`reduce(max: {name})`)"),
            Fix::Min => format!("declare a plain number in a reduction (`reduce(min: {name})`)"),
            Fix::Value => "return the value from the body and use the loop's result (`let values = par!(for ...)`), or use a reduction".to_string(),
            Fix::Collect => "return the item from the body: the loop's value is the `Vec` of every item's value, in order (`let items = par!(for ...)`)".to_string(),
        };
        let args = if m.args.is_empty() { "" } else { ".." };
        let (receiver, dot, ident) = (&m.receiver, &m.dot_token, &m.method);
        self.cx.error_spanned_by(
            quote::quote!(#receiver #dot #ident),
            format!(
                "`.{method}({args})` on `{name}`, a variable from outside of the `par!` loop body; each iteration runs in a separate worker process with its own copy of `{name}`, so the change is lost when the worker exits: {instead}"
            ),
        );
    }
}

impl<'ast> Visit<'ast> for Walker<'_> {
    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        self.interior_mutation(m);
        visit::visit_expr_method_call(self, m);
    }

    fn visit_expr_try(&mut self, t: &'ast syn::ExprTry) {
        if self.question_mark == QuestionMark::Forbidden {
            self.cx.error_spanned_by(
                t.question_token,
                "`?` inside of a `par!` loop body without `try`; the body's error must reach the parent as the loop's `par::Error`: write `par!(try, for ...)`, which returns `Result<_, par::Error>` naming the failing item",
            );
        }
        visit::visit_expr_try(self, t);
    }

    fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
        if !self.in_body(&b.label) {
            let target = if b.label.is_some() {
                "a labelled `break` to a loop outside of"
            } else {
                "`break` inside of"
            };
            self.cx.error_spanned_by(
                b,
                format!("{target} a `par!` loop body; iterations run in separate worker processes and cannot stop the loop: to skip an item use `continue`, to stop on a failure use `par!(try, ...)` and return an `Err`"),
            );
        }
        visit::visit_expr_break(self, b);
    }

    fn visit_expr_continue(&mut self, c: &'ast syn::ExprContinue) {
        if c.label.is_some() && !self.in_body(&c.label) {
            self.cx.error_spanned_by(
                c,
                "labelled `continue` to a loop outside of a `par!` loop body; iterations run in separate worker processes: use a plain `continue` to skip this item",
            );
        }
    }

    fn visit_expr_return(&mut self, r: &'ast syn::ExprReturn) {
        self.cx.error_spanned_by(
            r,
            "`return` inside of a `par!` loop body; the body runs in a worker process and cannot return from the enclosing function: return a value from the body (it becomes the item's result) or use `continue` to skip the item",
        );
        visit::visit_expr_return(self, r);
    }

    fn visit_expr_await(&mut self, a: &'ast syn::ExprAwait) {
        self.cx.error_spanned_by(
            a,
            "`.await` inside of a `par!` loop body; the body runs in a forked worker process without the async runtime: call blocking code in the body, or await outside of the loop",
        );
        visit::visit_expr_await(self, a);
    }

    fn visit_expr_yield(&mut self, y: &'ast syn::ExprYield) {
        self.cx.error_spanned_by(y, "`yield` inside of a `par!` loop body; the body runs in a worker process: return the value from the body instead");
        visit::visit_expr_yield(self, y);
    }

    fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
        self.mutation(&a.left, "assignment to");
        visit::visit_expr_assign(self, a);
    }

    fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
        use syn::BinOp::*;
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
        ) {
            self.mutation(&b.left, "assignment to");
        }
        visit::visit_expr_binary(self, b);
    }

    fn visit_expr_reference(&mut self, r: &'ast syn::ExprReference) {
        if r.mutability.is_some() {
            self.mutation(&r.expr, "`&mut` borrow of");
        }
        visit::visit_expr_reference(self, r);
    }

    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        self.visit_expr(&f.expr);
        self.in_loop(&f.label, |w| w.visit_block(&f.body));
    }

    fn visit_expr_while(&mut self, e: &'ast syn::ExprWhile) {
        self.visit_expr(&e.cond);
        self.in_loop(&e.label, |w| w.visit_block(&e.body));
    }

    fn visit_expr_loop(&mut self, e: &'ast syn::ExprLoop) {
        self.in_loop(&e.label, |w| w.visit_block(&e.body));
    }

    fn visit_expr_block(&mut self, b: &'ast syn::ExprBlock) {
        // `break 'label` out of a labelled block is local control flow.
        match &b.label {
            Some(l) => {
                self.labels.push(l.name.ident.to_string());
                visit::visit_expr_block(self, b);
                self.labels.pop();
            }
            None => visit::visit_expr_block(self, b),
        }
    }

    // Do not recurse into closures, async blocks or nested items: their `return`, `break` and
    // `.await` are their own.
    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// Whether the body has a `continue` for the loop itself (not for a loop inside the body).
pub fn continues(body: &syn::Block) -> bool {
    struct Finder {
        depth: usize,
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder {
        fn visit_expr_continue(&mut self, c: &'ast syn::ExprContinue) {
            if c.label.is_none() && self.depth == 0 {
                self.found = true;
            }
        }
        fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
            self.visit_expr(&f.expr);
            self.depth += 1;
            self.visit_block(&f.body);
            self.depth -= 1;
        }
        fn visit_expr_while(&mut self, e: &'ast syn::ExprWhile) {
            self.visit_expr(&e.cond);
            self.depth += 1;
            self.visit_block(&e.body);
            self.depth -= 1;
        }
        fn visit_expr_loop(&mut self, e: &'ast syn::ExprLoop) {
            self.depth += 1;
            self.visit_block(&e.body);
            self.depth -= 1;
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_expr_async(&mut self, _: &'ast syn::ExprAsync) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Finder {
        depth: 0,
        found: false,
    };
    f.visit_block(body);
    f.found
}
