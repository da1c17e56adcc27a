//! A reverse proxy that serves a flakewatch server below a path prefix, as nginx would at
//! `location /flakewatch/ { proxy_pass http://backend/; }`: requests below the prefix are
//! forwarded with the prefix cut off, anything else is a 404 from the proxy itself.
//! It asks the backend to close each connection after its answer, so every request on a
//! connection is seen (and rewritten) here.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub struct PrefixProxy {
    /// The address clients use: `http://127.0.0.1:PORT/PREFIX`.
    pub base_url: String,
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PrefixProxy {
    /// Serves `backend` (`http://host:port`) below `prefix` (e.g. `/flakewatch`).
    pub fn start(backend: &str, prefix: &str) -> PrefixProxy {
        let backend = backend
            .strip_prefix("http://")
            .expect("an http:// backend")
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let prefix = prefix.trim_end_matches('/').to_owned();
        let thread = {
            let (stop, prefix) = (stop.clone(), prefix.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let (backend, prefix) = (backend.clone(), prefix.clone());
                    std::thread::spawn(move || forward(client, &backend, &prefix));
                }
            })
        };
        PrefixProxy {
            base_url: format!("http://{addr}{prefix}"),
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PrefixProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One client connection: reads the request head, rewrites its path and `Connection`
/// header, then copies bytes both ways until the backend closes.
fn forward(client: TcpStream, backend: &str, prefix: &str) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let end = line == "\r\n";
        head.push(line);
        if end {
            break;
        }
    }
    let mut parts = head[0].splitn(3, ' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let Some(rest) = target.strip_prefix(prefix).filter(|r| r.starts_with('/')) else {
        let mut client = client;
        let _ = client.write_all(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 17\r\nconnection: close\r\n\r\nnot behind proxy\n",
        );
        return;
    };
    let mut request = format!("{method} {rest} {version}");
    for line in &head[1..head.len() - 1] {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            request.push_str(line);
        }
    }
    request.push_str("Connection: close\r\n\r\n");
    let Ok(mut upstream) = TcpStream::connect(backend) else {
        return;
    };
    if upstream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // What the client sent after the head (a body) goes on as it is.
    let buffered = reader.buffer().to_vec();
    if !buffered.is_empty() && upstream.write_all(&buffered).is_err() {
        return;
    }
    let mut body_in = reader.into_inner();
    let mut body_out = upstream.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut body_in, &mut body_out);
    });
    let mut answer = upstream;
    let mut client_out = client;
    let _ = std::io::copy(&mut answer, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Both);
}
