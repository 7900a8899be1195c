//! The extractor of every console form that changes something: the form decoded, posted from
//! this console (its origin and its session's CSRF token), by an operator whose credentials
//! still authenticate. A handler that takes a [`Change`] runs only then.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use verifyd_core::Store;

use super::{Console, Operator};

/// A checked form of fields `T` (the CSRF token is read apart: `T` need not name it).
pub struct Change<T> {
    pub operator: Operator,
    pub form: T,
}

/// A form whose only field is its token (signing out).
#[derive(Deserialize)]
pub struct NoFields {}

#[derive(Deserialize)]
struct Token {
    csrf: String,
}

impl<S: Store, T: DeserializeOwned + Send> FromRequest<Arc<Console<S>>> for Change<T> {
    type Rejection = Response;

    async fn from_request(request: Request, console: &Arc<Console<S>>) -> Result<Self, Response> {
        let headers = request.headers().clone();
        let malformed = |why: String| *console.malformed(&why);
        let body = Bytes::from_request(request, console).await.map_err(|e| malformed(e.to_string()))?;
        let token: Token = serde_urlencoded::from_bytes(&body).map_err(|e| malformed(e.to_string()))?;
        let form: T = serde_urlencoded::from_bytes(&body).map_err(|e| malformed(e.to_string()))?;
        let operator = console.operator_for_change(&headers, &token.csrf).await.map_err(|refusal| *refusal)?;
        Ok(Self { operator, form })
    }
}
