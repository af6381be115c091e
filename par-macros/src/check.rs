//! The rules of DESIGN.md 1.1 that the compiler can't express, one function each.

use std::collections::HashSet;

use syn::visit::{self, Visit};
use syn::{Expr, Ident, Lifetime};

use crate::ast::ParLoop;
use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, l: &ParLoop) {
    unordered_with_reduce(cx, l);
    body(cx, l);
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
    };
    walker.visit_block(&l.body);
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

impl<'ast> Visit<'ast> for Walker<'_> {
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
