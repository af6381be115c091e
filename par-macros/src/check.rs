//! The rules of `par!` (see its docs) that the compiler can't express, one function each.

use std::collections::HashSet;

use syn::visit::{self, Visit};
use syn::{Expr, Ident, Lifetime};

use crate::ast::ParLoop;
use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, l: &ParLoop) {
    unordered_with_reduce(cx, l);
    private_vars(cx, l);
    ordered_alone(cx, l);
    retries_for_collected_results(cx, l);
    body(cx, l);
}

/// `private(x)` names variables from outside of the body; the loop's own variables are each
/// item's already, a reduction variable is already private to each grain, and a name twice is
/// a typo.
fn private_vars(cx: &Ctxt, l: &ParLoop) {
    let Some((_, vars)) = &l.clauses.private else {
        return;
    };
    let reductions: HashSet<String> = l
        .clauses
        .reduce
        .iter()
        .flat_map(|(_, r)| r.iter().map(|r| r.var.to_string()))
        .collect();
    let mut loop_vars = Locals::default();
    loop_vars.visit_pat(&l.pat);
    let mut seen = HashSet::new();
    for v in vars {
        let name = v.to_string();
        if loop_vars.0.contains(&name) {
            cx.error_spanned_by(
                v,
                format!("`{name}` is the loop's own variable: each item already gets its own `{name}`; remove it from `private(..)` (`private` is for variables from before the loop)"),
            );
        } else if reductions.contains(&name) {
            cx.error_spanned_by(
                v,
                format!("`{name}` is both `private` and a reduction variable; a reduction's grains already start from private copies: remove `{name}` from `private(..)`"),
            );
        } else if !seen.insert(name.clone()) {
            cx.error_spanned_by(
                v,
                format!("`{name}` is named twice in `private(..)`; name it once"),
            );
        }
    }
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
    if let Some(span) = c.keep_going
        && (c.unordered.is_some() || c.find.is_some())
    {
        cx.syn_error(syn::Error::new(
                span,
                "`keep_going` cannot be combined with `unordered` or `find`; it collects one `Result` per item in order (or, with `reduce`, the failures): remove the other clause",
            ));
    }
    if let Some(span) = c.find
        && (c.unordered.is_some() || c.reduce.is_some())
    {
        cx.syn_error(syn::Error::new(
                span,
                "`find` cannot be combined with `unordered` or `reduce`; `find` stops at the first item whose body is `true`: remove the other clause",
            ));
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
        (
            c.unordered.is_some(),
            "unordered",
            "`unordered` yields values as they complete, `ordered` in item order: keep one",
        ),
        (
            c.reduce.is_some(),
            "reduce",
            "a reduction yields one combined value, not a stream of values: remove `ordered`",
        ),
        (
            c.find.is_some(),
            "find",
            "`find` stops at the first item whose body is `true`: remove `ordered`",
        ),
        (
            c.keep_going.is_some(),
            "keep_going",
            "`keep_going` collects one `Result` per item; for values in order that stop at the first failure write `ordered, try`",
        ),
        (
            c.retries.is_some(),
            "retries",
            "values already handed out cannot be taken back when an item runs again: collect the values instead (remove `ordered`)",
        ),
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
    let privates: HashSet<String> = l
        .clauses
        .private
        .iter()
        .flat_map(|(_, v)| v.iter().map(|v| v.to_string()))
        .collect();
    let mut walker = Walker {
        cx,
        loop_depth: 0,
        labels: Vec::new(),
        locals: locals.0,
        reductions,
        privates,
        body: &l.body,
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
    /// `private(..)` variables: each item mutates its own clone.
    privates: HashSet<String>,
    /// The whole body, to tell whether a variable assigned in it is also read there.
    body: &'a syn::Block,
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
    ("extend_from_slice", Some(1), Fix::Extend),
    ("entry", Some(1), Fix::Map),
    ("copy_from_slice", Some(1), Fix::Scratch),
    ("clone_from_slice", Some(1), Fix::Scratch),
    ("fill", Some(1), Fix::Scratch),
    ("fill_with", Some(1), Fix::Scratch),
    ("iter_mut", Some(0), Fix::Scratch),
    ("values_mut", Some(0), Fix::Scratch),
    ("as_mut_slice", Some(0), Fix::Scratch),
    ("get_mut", Some(1), Fix::Scratch),
    ("first_mut", Some(0), Fix::Scratch),
    ("last_mut", Some(0), Fix::Scratch),
    ("split_at_mut", Some(1), Fix::Scratch),
    ("chunks_mut", Some(1), Fix::Scratch),
    ("clear", Some(0), Fix::Scratch),
    ("truncate", Some(1), Fix::Scratch),
    ("resize", Some(2), Fix::Scratch),
    ("reserve", Some(1), Fix::Scratch),
    ("retain", Some(1), Fix::Scratch),
    ("dedup", Some(0), Fix::Scratch),
    ("reverse", Some(0), Fix::Scratch),
    ("rotate_left", Some(1), Fix::Scratch),
    ("rotate_right", Some(1), Fix::Scratch),
    ("sort", Some(0), Fix::Scratch),
    ("sort_unstable", Some(0), Fix::Scratch),
    ("sort_by", Some(1), Fix::Scratch),
    ("sort_by_key", Some(1), Fix::Scratch),
    ("sort_unstable_by", Some(1), Fix::Scratch),
    ("sort_unstable_by_key", Some(1), Fix::Scratch),
    ("pop", Some(0), Fix::Scratch),
    ("remove", Some(1), Fix::Scratch),
    ("swap_remove", Some(1), Fix::Scratch),
    ("drain", Some(1), Fix::Scratch),
];

/// What to write instead of an interior mutation.
#[derive(Clone, Copy)]
enum Fix {
    Sum,
    Max,
    Min,
    Value,
    Collect,
    /// `extend_from_slice`: items that the loop's values, joined, would be.
    Extend,
    /// `entry(..)`: a map built from the items.
    Map,
    /// A buffer or collection used as scratch space, or filled by the loop.
    Scratch,
}

/// How a body changes a variable from outside of it.
#[derive(Clone, Copy)]
enum Change {
    /// `x = v`, `x.f = v`, `x[i] = v`.
    Assign,
    /// `x += v` and the other compound assignments; the reduction operator that fits, if any.
    Compound(Option<&'static str>),
    /// `&mut x`.
    Borrow,
}

/// The fixes for a scratch variable: declare it in the body, `private`, or return its value.
fn scratch_fix(name: &str) -> String {
    format!(
        "if it is scratch space, declare it inside the body (`let mut {name} = ...;`) or give each item its own copy with the `private` clause (`par!(private({name}), for ...)`); if the loop computes it, return the value from the body and use the loop's value (`let values = par!(for ...)`)"
    )
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

    /// Whether a variable that is not local is one the body may change: a reduction's or a
    /// `private` one.
    fn owned(&self, name: &str) -> bool {
        self.locals.contains(name) || self.reductions.contains(name) || self.privates.contains(name)
    }

    /// Mutating a variable captured from outside the loop would change only the worker's copy.
    fn mutation(&self, place: &Expr, change: Change) {
        let Some(var) = Self::root(place) else { return };
        let name = var.to_string();
        if self.owned(&name) {
            return;
        }
        let what = match change {
            Change::Borrow => "`&mut` borrow of",
            Change::Assign | Change::Compound(_) => "assignment to",
        };
        let indexed = matches!(place, Expr::Index(_));
        let field = matches!(place, Expr::Field(_));
        let instead = match change {
            // `total += x`, `hist[k] += 1` (an element-wise reduction of an array or `Vec`).
            Change::Compound(Some(op)) if !field => format!(
                "declare it in a reduction (`reduce({op}: {name})`) or return the value from the body and use the loop's result"
            ),
            Change::Compound(Some(_)) => format!(
                "declare it in a reduction with a `fn` that combines two values (`reduce(merge: {name})`), or return the value from the body and use the loop's result"
            ),
            // `out[i] = v`: the loop's value, or the in-place form.
            Change::Assign if indexed => format!(
                "return the value from the body instead, and the loop's value is the `Vec` of every item's value in item order (`let {name}: Vec<_> = par!(for i in .. {{ value }});`), or update `{name}` in place (`par!(for (i, o) in {name}.iter_mut().enumerate() {{ *o = value; }})`)"
            ),
            // `last = i`, never read in the body: OpenMP's `lastprivate`.
            Change::Assign if !self.reads(&name) => format!(
                "to keep the last item's value (OpenMP's `lastprivate`), return it from the body and take the last of the loop's values (`let {name} = par!(for ... {{ value }}).last().copied();`); if it is scratch space, declare it inside the body or use `private({name})`"
            ),
            Change::Assign | Change::Compound(None) | Change::Borrow => scratch_fix(&name),
        };
        self.cx.error_spanned_by(
            place,
            format!(
                "{what} `{name}`, a variable from outside of the `par!` loop body; each iteration runs in a separate worker process, so the change would be lost: {instead}"
            ),
        );
    }

    /// Whether the body reads `name` (any use but as the target of a plain `name = ...`).
    fn reads(&self, name: &str) -> bool {
        struct Reads<'n> {
            name: &'n str,
            found: bool,
        }
        impl<'ast> Visit<'ast> for Reads<'_> {
            fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
                if !matches!(&*a.left, Expr::Path(_)) {
                    self.visit_expr(&a.left);
                }
                self.visit_expr(&a.right);
            }
            fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
                if p.qself.is_none() && p.path.is_ident(self.name) {
                    self.found = true;
                }
            }
            fn visit_macro(&mut self, m: &'ast syn::Macro) {
                fn any(ts: proc_macro2::TokenStream, name: &str) -> bool {
                    ts.into_iter().any(|t| match t {
                        proc_macro2::TokenTree::Ident(i) => i == name,
                        proc_macro2::TokenTree::Group(g) => any(g.stream(), name),
                        _ => false,
                    })
                }
                if any(m.tokens.clone(), self.name) {
                    self.found = true;
                }
            }
        }
        let mut r = Reads { name, found: false };
        r.visit_block(self.body);
        r.found
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
        if self.owned(&name) {
            return;
        }
        let instead = match fix {
            Fix::Sum => format!("declare a plain number in a reduction (`let mut {name} = 0; par!(reduce(+: {name}), for ... {{ {name} += 1; }})`)"),
            Fix::Max => format!("declare a plain number in a reduction (`reduce(max: {name})`)"),
            Fix::Min => format!("declare a plain number in a reduction (`reduce(min: {name})`)"),
            Fix::Value => "return the value from the body and use the loop's result (`let values = par!(for ...)`), or use a reduction".to_string(),
            Fix::Collect => "return the item from the body: the loop's value is the `Vec` of every item's value, in order (`let items = par!(for ...)`)".to_string(),
            Fix::Extend => format!("return the items from the body as a `Vec` and join the loop's values in item order (`let {name}: Vec<_> = par!(for ... {{ items }}).concat();`); if it is scratch space, declare it inside the body or use `private({name})`"),
            Fix::Map => format!("return the key and value from the body and build the map from the loop's value after it (`for (k, v) in par!(for ... {{ (k, v) }}) {{ *{name}.entry(k).or_default() += v; }}`), or reduce into a map with a `fn` that merges two maps (`reduce(merge: {name})`)"),
            Fix::Scratch => scratch_fix(&name),
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
        self.mutation(&a.left, Change::Assign);
        visit::visit_expr_assign(self, a);
    }

    fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
        use syn::BinOp::*;
        let op = match b.op {
            AddAssign(_) => Some(Some("+")),
            SubAssign(_) => Some(Some("-")),
            MulAssign(_) => Some(Some("*")),
            BitXorAssign(_) => Some(Some("^")),
            BitAndAssign(_) => Some(Some("&")),
            BitOrAssign(_) => Some(Some("|")),
            DivAssign(_) | RemAssign(_) | ShlAssign(_) | ShrAssign(_) => Some(None),
            _ => None,
        };
        if let Some(op) = op {
            self.mutation(&b.left, Change::Compound(op));
        }
        visit::visit_expr_binary(self, b);
    }

    fn visit_expr_reference(&mut self, r: &'ast syn::ExprReference) {
        if r.mutability.is_some() {
            self.mutation(&r.expr, Change::Borrow);
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
