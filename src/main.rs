//! The showcase server: `cargo run --release`, then open http://127.0.0.1:8080/.
//!
//! Every refusal (a bad flag, a taken port) is one line on stderr and exit code 1.

use realtime_web::hub::Hub;
use realtime_web::server::Server;
use realtime_web::showcase::{self, Command};
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let options = match showcase::parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve(options)) => *options,
        Ok(Command::Help) => {
            print!("{}", showcase::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("realtime-web: {message}");
            return ExitCode::FAILURE;
        }
    };
    let server = match Server::bind(options.addr.as_str(), options.server_config()) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("realtime-web: cannot listen on {}: {error}", options.addr);
            return ExitCode::FAILURE;
        }
    };
    // The router closes the hub when the server shuts down.
    #[cfg(feature = "redis")]
    let hub = match Hub::connect(options.hub_config()) {
        Ok(hub) => Arc::new(hub),
        Err(error) => {
            eprintln!("realtime-web: {error}");
            return ExitCode::FAILURE;
        }
    };
    #[cfg(not(feature = "redis"))]
    let hub = Arc::new(Hub::new(options.hub_config()));
    #[cfg(feature = "tcp")]
    if let Some(tcp_addr) = &options.tcp_addr {
        let tcp = match Server::bind(tcp_addr.as_str(), options.server_config()) {
            Ok(tcp) => tcp,
            Err(error) => {
                eprintln!("realtime-web: cannot listen on {tcp_addr}: {error}");
                return ExitCode::FAILURE;
            }
        };
        let handler = realtime_web::transport::tcp::handler(
            Arc::clone(&hub),
            options.allow_origins.clone(),
            options.stream,
            realtime_web::transport::access::Access::open(),
        );
        println!("realtime-web listening on http://{}/", server.local_addr());
        println!("realtime-web TCP line protocol on {}", tcp.local_addr());
        std::thread::spawn(move || tcp.serve_raw(handler));
    } else {
        println!("realtime-web listening on http://{}/", server.local_addr());
    }
    #[cfg(not(feature = "tcp"))]
    println!("realtime-web listening on http://{}/", server.local_addr());
    match server.serve(showcase::router(hub, &options)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("realtime-web: {error}");
            ExitCode::FAILURE
        }
    }
}
