//! The callables: jobs forked one by one ([`Queue`](crate::Queue), [`Map`](crate::Map),
//! [`pmap`](crate::pmap)), reusable workers ([`Pool`](crate::Pool)), started children that talk
//! over channels ([`start`](crate::start)), and background jobs. Each is built on the one child
//! layer (`child/`).

pub(crate) mod background;
pub(crate) mod channel;
pub(crate) mod events;
pub(crate) mod limiter;
pub(crate) mod pool;
pub(crate) mod queue;
pub(crate) mod report;
pub(crate) mod spawner;
