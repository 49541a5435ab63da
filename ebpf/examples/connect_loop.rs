//! Benchmark helper for hack/bench/datapath.sh.
//!   connect_loop serve ADDR SECONDS   accept and close connections for SECONDS
//!   connect_loop run ADDR COUNT        COUNT sequential TCP connects; prints connects/s
use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = a[2].parse().expect("ADDR");
    let n: u64 = a[3].parse().expect("number");
    match a[1].as_str() {
        "serve" => {
            let l = TcpListener::bind(addr).unwrap();
            l.set_nonblocking(true).unwrap();
            let end = Instant::now() + Duration::from_secs(n);
            while Instant::now() < end {
                match l.accept() {
                    Ok((s, _)) => drop(s),
                    Err(_) => std::thread::sleep(Duration::from_micros(200)),
                }
            }
        }
        "run" => {
            let t = Instant::now();
            let mut ok = 0u64;
            for _ in 0..n {
                if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    ok += 1;
                }
            }
            let secs = t.elapsed().as_secs_f64();
            println!("{:.0} {}", n as f64 / secs, ok);
        }
        m => panic!("unknown mode {m}"),
    }
}
