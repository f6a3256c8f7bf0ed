//! The client side of TDS as far as TLS needs it: packet framing, PRELOGIN,
//! TLS wrapped in PRELOGIN packets (TDS 7.x), TDS 8.0 strict, and a raw
//! ClientHello for servers that speak only TLS 1.0/1.1.

pub(crate) mod failure;
pub mod legacy;
pub mod packet;
pub mod prelogin;
pub mod secured;
pub(crate) mod tls;
pub mod wrapped;
