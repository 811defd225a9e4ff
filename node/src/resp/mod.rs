//! The RESP wire protocol, without any I/O: the request parser used by the
//! server, the reply writer (RESP2 and RESP3), and a generic frame type with
//! a parser and encoder for the client side (tests, replicas, sentinels).

pub mod frame;
pub mod reply;
pub mod request;

pub use frame::Frame;
pub use reply::Reply;
pub use request::{ParseLimits, ProtocolError, RequestParser};
