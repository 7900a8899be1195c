//! Starts a verification and checks its code against a verifyd (or Twilio) server.
//!
//! ```sh
//! VERIFYD_ACCOUNT_SID=AC... VERIFYD_AUTH_TOKEN=... cargo run -p verifyd-client --example verify
//! ```
//!
//! - `VERIFYD_URL`: the server, base path included (default `http://127.0.0.1:8080/v2`);
//! - `VERIFYD_ACCOUNT_SID`, `VERIFYD_AUTH_TOKEN`: the credentials (an API key SID and its
//!   secret work too);
//! - `VERIFYD_SERVICE_SID`: the Verify service to use; without it, a new one is created;
//! - `VERIFYD_TO`: the phone number to verify (default `+15017122661`);
//! - `VERIFYD_CODE`: the code; without it, the example asks for it on standard input. verifyd
//!   sends no SMS: `verifyd outbox --limit 1` shows the code it would have sent.

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;

use verifyd_client::models::{
    CreateServiceRequest, CreateVerificationCheckRequest, CreateVerificationRequest, Sid, VerificationChannel,
};
use verifyd_client::{Client, ClientError};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let url = std::env::var("VERIFYD_URL").unwrap_or_else(|_| "http://127.0.0.1:8080/v2".to_owned());
    let account_sid = required_env("VERIFYD_ACCOUNT_SID")?;
    let auth_token = required_env("VERIFYD_AUTH_TOKEN")?;
    let to = std::env::var("VERIFYD_TO").unwrap_or_else(|_| "+15017122661".to_owned());
    let client = Client::new(url, account_sid, auth_token).map_err(|e| explain("building the client", e))?;

    let service: Sid = match std::env::var("VERIFYD_SERVICE_SID") {
        Ok(sid) => sid.parse().map_err(|e| format!("VERIFYD_SERVICE_SID: {e}"))?,
        Err(_) => {
            let request = CreateServiceRequest::new("verifyd-client example".to_owned());
            let service = client.create_service(&request).await.map_err(|e| explain("creating a service", e))?;
            println!("created service {}", service.sid);
            service.sid
        }
    };

    // Every request type has a `new` taking its required values; the optional ones are
    // public `Option` fields.
    let request = CreateVerificationRequest::new(service.clone(), to.clone(), VerificationChannel::Sms);
    let verification =
        client.create_verification(&request).await.map_err(|e| explain("starting the verification", e))?;
    // Response enums are `Open`: a value this version of the spec does not list is kept as text.
    let status = verification.status.as_ref().map_or("(none)", |s| s.as_str());
    println!("verification {} sent to {to} by {}: {status}", verification.sid, verification.channel);

    let code = match std::env::var("VERIFYD_CODE") {
        Ok(code) => code,
        Err(_) => prompt("code: ")?,
    };
    let request = CreateVerificationCheckRequest {
        to: Some(to.clone()),
        code: Some(code),
        ..CreateVerificationCheckRequest::new(service)
    };
    match client.create_verification_check(&request).await {
        Ok(check) if check.valid == Some(true) => {
            println!("approved: {to} is verified");
            Ok(())
        }
        Ok(check) => {
            let status = check.status.as_ref().map_or("(none)", |s| s.as_str());
            Err(format!("wrong code: the verification is {status}"))
        }
        // Twilio's answer when nothing is pending for that number.
        Err(e) if e.code() == Some(20404) => {
            Err(format!("no pending verification for {to}: it expired, was approved already, or was never started"))
        }
        Err(e) => Err(explain("checking the code", e)),
    }
}

/// What went wrong, by the kind of failure.
fn explain(what: &str, error: ClientError) -> String {
    match error {
        // The server answered with Twilio's error body.
        ClientError::Api(e) => {
            format!("{what}: {} (Twilio error {}, HTTP {}; see {})", e.message, e.code, e.status, e.more_info)
        }
        // No answer: the server is down, the URL is wrong, or it took longer than 30 seconds.
        ClientError::Http(e) => format!("{what}: no answer from the server: {e}"),
        // An answer the spec does not describe: is that URL a Verify v2 server?
        other => format!("{what}: {other}"),
    }
}

fn required_env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name} (see the example's documentation)"))
}

fn prompt(question: &str) -> Result<String, String> {
    print!("{question}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading the code: {e}"))?;
    Ok(line.trim().to_owned())
}
