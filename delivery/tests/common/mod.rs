//! What the provider tests share: a message to send, and a stand-in server on 127.0.0.1:0.

#![allow(dead_code)]

use std::net::SocketAddr;

use verifyd_delivery::{Outgoing, RenderedMessage};
use verifyd_models::VerificationChannel;
use verifyd_runtime::Sid;

pub fn sid(prefix: &str, n: u8) -> Sid {
    Sid::from_parts(prefix, [n; 16])
}

/// A message of `channel` to `to`, with a code that starts with zeros.
pub fn outgoing(channel: VerificationChannel, to: &str) -> Outgoing {
    Outgoing {
        account_sid: sid("AC", 1),
        service_sid: sid("VA", 2),
        verification_sid: sid("VE", 3),
        attempt_sid: sid("VL", 4),
        channel,
        to: to.to_owned(),
        locale: "en".to_owned(),
        code: "007123".to_owned(),
        message: RenderedMessage {
            text: "Your Acme verification code is: 007123.".to_owned(),
            subject: None,
            html: None,
        },
        send_digits: None,
        messaging_service_sid: None,
    }
}

/// Serves `router` on a free port of 127.0.0.1 for the rest of the test.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}
