//! A schema-registry double: the two calls netpipe makes. A POST of a
//! subject's version is answered with id 42 (and its schema kept); a GET of
//! `/schemas/ids/42` with that schema. Every request line and body goes to
//! the channel returned.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

pub fn registry_double() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let registered: Arc<Mutex<Option<String>>> = Arc::default();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let (line, body) = read_request(&mut stream);
            let _ = tx.send(format!("{line}\n{body}"));
            let reply = if line.starts_with("GET /schemas/ids/42") {
                let schema = registered.lock().unwrap().clone().unwrap_or_default();
                serde_json::json!({ "schema": schema }).to_string()
            } else {
                if let Ok(request) = serde_json::from_str::<serde_json::Value>(&body) {
                    let schema = request["schema"].as_str().map(str::to_string);
                    *registered.lock().unwrap() = schema;
                }
                r#"{"id":42}"#.to_string()
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, rx)
}

/// A request's first line and its body.
fn read_request(stream: &mut std::net::TcpStream) -> (String, String) {
    let mut request = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = stream.read(&mut buf).unwrap_or(0);
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len || n == 0 {
                let line = head.lines().next().unwrap_or("").to_string();
                return (line, body.to_string());
            }
        }
        if n == 0 {
            return (String::new(), String::new());
        }
    }
}
