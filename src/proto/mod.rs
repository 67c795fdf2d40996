//! The sans-IO protocol core: frame codec, channel state, credit accounting and
//! scheduling. Nothing in here touches a socket, spawns a thread or reads the
//! clock; the driver feeds it bytes and time and takes frames out, and the unit
//! tests drive it the same way.

pub mod control;
pub mod credit;
pub mod decoder;
pub mod error_code;
pub mod frame;
pub mod heartbeat;
pub mod levels;
pub mod pool;
pub mod recv_buffer;
pub mod scheduler;
pub mod send_queue;
pub mod session;
pub mod timer;

pub use error_code::ErrorCode;
