//! A webhook receiver on a loopback port: it hands each request's body to the test through
//! a channel and answers with a scripted sequence of statuses (then 200), or not at all.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Reads the request and never answers (until the receiver is dropped).
    Hang,
}

pub struct Receiver {
    pub url: String,
    bodies: mpsc::Receiver<Value>,
    stop: Arc<AtomicBool>,
    /// Connections left hanging, closed on drop so their senders stop waiting.
    hanging: Arc<Mutex<Vec<TcpStream>>>,
    addr: std::net::SocketAddr,
}

impl Receiver {
    /// Answers requests with `script` in order, then 200 to every other.
    pub fn start(script: &[Answer]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let (tx, bodies) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let hanging = Arc::new(Mutex::new(Vec::new()));
        let mut script = Vec::from(script).into_iter();
        let (stopping, held) = (stop.clone(), hanging.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let Some(body) = read_request(&mut stream) else {
                    continue;
                };
                let answer = script.next().unwrap_or(Answer::Status(200));
                let _ = tx.send(body);
                match answer {
                    Answer::Status(code) => {
                        let _ = write!(
                            stream,
                            "HTTP/1.1 {code} Scripted\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                        );
                    }
                    Answer::Hang => held.lock().unwrap().push(stream),
                }
            }
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            bodies,
            stop,
            hanging,
            addr,
        }
    }

    /// The next body received, waiting at most `seconds`.
    pub fn next(&self, seconds: u64) -> Value {
        self.bodies
            .recv_timeout(Duration::from_secs(seconds))
            .unwrap_or_else(|_| {
                panic!(
                    "no webhook request arrived at {} within {seconds} s",
                    self.url
                )
            })
    }

    /// Bodies received and not taken yet, without waiting.
    pub fn rest(&self) -> Vec<Value> {
        self.bodies.try_iter().collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for stream in self.hanging.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        // Wakes the accept loop so it sees the stop flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// The JSON body of one request (headers up to the blank line, then Content-Length bytes).
fn read_request(stream: &mut TcpStream) -> Option<Value> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}
