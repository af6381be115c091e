//! `par!` loops over the ranks (the facade's feature `mpi`): what the code that `par!`
//! generates for a body that is one call, `par!(for x in xs { f(a, b) })`, calls. Not public
//! API: reached only through `par::__private`.
//!
//! Whether the loop goes to the ranks is decided at run time, by `rank_function`: `f` must
//! be a `#[parallel]` function (found in the registry under its type's path) and this process
//! rank 0 of an MPI job inside `par::main`. Otherwise the generated code runs the usual loop on
//! forked workers. The arguments are computed on rank 0, item by item, and travel as a pool
//! worker's would; the results come back in item order.
//!
//! What this module must never do: send a call whose function the ranks would not find by
//! name, or run a loop on the ranks when the same loop would run inline (`PAR_WORKERS=1`,
//! `par::sequential`, inside a worker).
#![allow(missing_docs)] // hidden support for generated code

use std::marker::PhantomData;
use std::panic::Location;

use crate::jobs::pool::Pool;
use crate::macro_support::Call;
use crate::wire::codec::Transfer;

/// The registered name of the function `F` when a loop calling it should run on the ranks:
/// `F` is a `#[parallel]` function (a function item whose path is a registered name; a
/// closure or a `fn` pointer never is), and this is rank 0 of an MPI job in `par::main`, in a
/// place where loops fork.
fn rank_function<F>() -> Option<&'static str> {
    crate::mpi::ranks()?;
    if crate::mode::runs_inline() {
        return None;
    }
    // A function item's type is named by the function's path, which is what `#[parallel]`
    // registers (`module_path!()::name`).
    let path = std::any::type_name::<F>();
    crate::jobs::pool::registered()
        .into_iter()
        .find(|name| *name == path)
}

/// `rank_function` of the function that `call` (never called) calls with an item of
/// `source`: naming it there lets a generic function get its type parameters from the call.
pub fn rank_function_of<'f, S: crate::Source, F: 'f>(
    _source: &S,
    _call: impl FnOnce(S::Item) -> &'f F,
) -> Option<&'static str> {
    rank_function::<F>()
}

/// The calls of one loop on the ranks: arguments `A` in, results `R` back in item order.
pub struct RankLoop<A, R> {
    name: &'static str,
    /// The `par!` loop's site: what its report (family [`RANK_LOOP`]) names.
    site: &'static Location<'static>,
    pool: Option<Pool<R>>,
    _args: PhantomData<fn(A)>,
}

/// The family a `par!` loop on the ranks reports as (`PAR_REPORT=1`, `PAR_TRACE`,
/// `last_family_report`): its calls, one per item, and the ranks that served them.
pub const RANK_LOOP: &str = "par! on ranks";

impl<A, R> RankLoop<A, R> {
    #[track_caller]
    pub fn new(name: &'static str) -> Self {
        RankLoop {
            name,
            site: Location::caller(),
            pool: None,
            _args: PhantomData,
        }
    }

    /// The argument and result types, for the autoref dispatch of `__par_rank_finish`.
    pub fn probe(&self) -> Call<A, R> {
        Call::new()
    }
}

/// The argument and result types of a call `f(args)`, for the autoref dispatch of
/// `__par_rank_call` ([`RankTravels`] when both travel).
pub fn probe<A, R>(_: &A, _: impl FnOnce(A) -> R) -> Call<A, R> {
    Call::new()
}

/// Autoref specialisation (as `CallTravels`): the types travel, the calls go to the ranks.
pub trait RankTravels<A, R> {
    fn __par_rank_call(&self, ranks: &mut RankLoop<A, R>, args: A);
    fn __par_rank_finish(&self, ranks: RankLoop<A, R>) -> Vec<R>;
}

impl<A: Transfer, R: Transfer> RankTravels<A, R> for &Call<A, R> {
    fn __par_rank_call(&self, ranks: &mut RankLoop<A, R>, args: A) {
        let name = ranks.name;
        let site = ranks.site;
        let pool = ranks
            .pool
            .get_or_insert_with(|| Pool::new(1).reported_as(RANK_LOOP, site));
        // Never called: a pool of ranks does not run calls inline (`rank_function` said so).
        pool.call(name, args, |_| {
            unreachable!("a loop on the ranks runs no call inline")
        });
    }

    fn __par_rank_finish(&self, ranks: RankLoop<A, R>) -> Vec<R> {
        let Some(mut pool) = ranks.pool else {
            return Vec::new();
        };
        let results: Vec<crate::Result<R>> = pool.ordered().collect();
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }
}

/// The types do not travel: then the function is not a `#[parallel]` one (whose types are
/// checked to travel), `rank_function` returned `None`, and this is never called.
pub trait RankStays<A, R> {
    fn __par_rank_call(&self, _: &mut RankLoop<A, R>, _: A) {
        unreachable!("only a `#[parallel]` function's calls go to the ranks")
    }
    fn __par_rank_finish(&self, _: RankLoop<A, R>) -> Vec<R> {
        unreachable!("only a `#[parallel]` function's calls go to the ranks")
    }
}
impl<A, R> RankStays<A, R> for Call<A, R> {}
