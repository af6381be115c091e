//! A small raytracer of PyGmy's scene (the showcase of Python's pprocess), rendered once
//! sequentially and once with par, one row per item; checks that both images are bit-identical,
//! writes a PNG and prints the speedup.
//!
//! ```sh
//! cargo run --release --example raytrace                      # 1200x800, 64 occlusion rays
//! cargo run --release --example raytrace -- --size 300x200    # PyGmy's size
//! cargo run --release --example raytrace -- --workers 4 --rays 32 --out scene.png
//! cargo run --release --example raytrace -- --via pmap      # or queue, pool: the same image, other APIs
//! ```
//!
//! On the ranks of an MPI job (feature `mpi`; see the README's "Running on a cluster"):
//!
//! ```sh
//! cargo build --release --features mpi --examples
//! mpirun -np 3 target/release/examples/raytrace --via mpi    # rank 0 draws, ranks 1-2 render
//! ```
//!
//! Unlike PyGmy, whose forked children inherited one random state (so images differed run to
//! run), every pixel seeds its own random occlusion rays: the image is the same for any number
//! of workers and any schedule.

use std::io::Write;
use std::ops::{Add, Mul, Sub};
use std::time::Instant;

use par::par;

#[derive(Debug, Clone, Copy, PartialEq)]
struct V(f64, f64, f64);

impl Add for V {
    type Output = V;
    fn add(self, o: V) -> V {
        V(self.0 + o.0, self.1 + o.1, self.2 + o.2)
    }
}
impl Sub for V {
    type Output = V;
    fn sub(self, o: V) -> V {
        V(self.0 - o.0, self.1 - o.1, self.2 - o.2)
    }
}
impl Mul<f64> for V {
    type Output = V;
    fn mul(self, k: f64) -> V {
        V(self.0 * k, self.1 * k, self.2 * k)
    }
}
impl V {
    fn dot(self, o: V) -> f64 {
        self.0 * o.0 + self.1 * o.1 + self.2 * o.2
    }
    fn times(self, o: V) -> V {
        V(self.0 * o.0, self.1 * o.1, self.2 * o.2)
    }
    fn norm(self) -> V {
        self * (1.0 / self.dot(self).sqrt())
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Sphere { c: V, r: f64 },
    Plane { y: f64 },
}

#[derive(Clone, Copy)]
enum Shader {
    /// 50% lit colour, 50% reflection, times ambient occlusion.
    Reflective(V),
    /// The ground: colour halved where sin(x) + cos(z) > 0.5.
    Checker(V),
}

struct Scene {
    objects: Vec<(Shape, Shader)>,
    /// (direction towards the light or None for a point light, position, colour)
    lights: Vec<(Option<V>, V, V)>,
    rays: u32,
}

const EPS: f64 = 1e-6;
const DEPTH: u32 = 2;

impl Shape {
    fn hit(&self, o: V, d: V) -> Option<f64> {
        match *self {
            Shape::Sphere { c, r } => {
                let oc = o - c;
                let b = oc.dot(d);
                let disc = b * b - (oc.dot(oc) - r * r);
                if disc < 0.0 {
                    return None;
                }
                let s = disc.sqrt();
                [-b - s, -b + s].into_iter().find(|&t| t > EPS)
            }
            Shape::Plane { y } => {
                if d.1.abs() < 1e-12 {
                    return None;
                }
                let t = (y - o.1) / d.1;
                (t > EPS).then_some(t)
            }
        }
    }
    fn normal(&self, p: V) -> V {
        match *self {
            Shape::Sphere { c, .. } => (p - c).norm(),
            Shape::Plane { .. } => V(0.0, 1.0, 0.0),
        }
    }
}

/// A tiny counter-based RNG (SplitMix64): every pixel derives its own stream from its
/// coordinates, so no state is shared between rows, workers or runs.
struct Rng(u64);
impl Rng {
    fn new(x: u32, y: u32) -> Self {
        Rng(
            ((y as u64) << 32 | x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ 0xD1B5_4A32_D192_ED03,
        )
    }
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A random direction in the hemisphere around `n`.
    fn hemisphere(&mut self, n: V) -> V {
        loop {
            let v = V(
                self.next() * 2.0 - 1.0,
                self.next() * 2.0 - 1.0,
                self.next() * 2.0 - 1.0,
            );
            let l2 = v.dot(v);
            if l2 > 1e-9 && l2 <= 1.0 {
                let v = v.norm();
                return if v.dot(n) < 0.0 { v * -1.0 } else { v };
            }
        }
    }
}

impl Scene {
    /// PyGmy's scene: ten spheres on a circle, one big sphere, a ground plane, two lights.
    fn pygmy(rays: u32) -> Scene {
        let offset = V(0.0, -5.0, 55.0);
        let mut objects = Vec::new();
        for k in 0..10 {
            let a = 0.3 + k as f64 * 2.0 * std::f64::consts::PI / 10.0;
            let c = V(a.sin() * 12.0, 0.0, a.cos() * 12.0) + offset;
            let colour = V(0.2 + 0.06 * k as f64, 0.4, 0.9 - 0.06 * k as f64);
            objects.push((Shape::Sphere { c, r: 2.0 }, Shader::Reflective(colour)));
        }
        objects.push((
            Shape::Sphere {
                c: V(3.0, 3.0, 0.0) + offset,
                r: 5.0,
            },
            Shader::Reflective(V(0.9, 0.9, 0.9)),
        ));
        objects.push((Shape::Plane { y: -7.0 }, Shader::Checker(V(0.9, 0.9, 0.9))));
        let lights = vec![
            (
                Some(V(1.0, 1.0, -1.0).norm()),
                V(0.0, 0.0, 0.0),
                V(0.3, 0.9, 0.1),
            ),
            (None, V(5.0, 100.0, -5.0), V(0.5, 0.5, 1.0)),
        ];
        Scene {
            objects,
            lights,
            rays,
        }
    }

    fn nearest(&self, o: V, d: V) -> Option<(f64, usize)> {
        let mut best: Option<(f64, usize)> = None;
        for (i, (s, _)) in self.objects.iter().enumerate() {
            if let Some(t) = s.hit(o, d)
                && best.is_none_or(|(bt, _)| t < bt)
            {
                best = Some((t, i));
            }
        }
        best
    }

    fn lit(&self, p: V, n: V) -> V {
        let mut c = V(0.0, 0.0, 0.0);
        for &(dir, pos, colour) in &self.lights {
            let (l, dist) = match dir {
                Some(d) => (d, f64::INFINITY),
                None => {
                    let to = pos - p;
                    (to.norm(), to.dot(to).sqrt())
                }
            };
            let k = n.dot(l);
            if k > 0.0 && self.nearest(p + n * 1e-4, l).is_none_or(|(t, _)| t > dist) {
                c = c + colour * k;
            }
        }
        c
    }

    /// Fraction of random rays from `p` that escape within 10 units.
    fn occlusion(&self, p: V, n: V, rng: &mut Rng) -> f64 {
        if self.rays == 0 {
            return 1.0;
        }
        let free = (0..self.rays)
            .filter(|_| {
                self.nearest(p + n * 1e-4, rng.hemisphere(n))
                    .is_none_or(|(t, _)| t > 10.0)
            })
            .count();
        free as f64 / self.rays as f64
    }

    fn trace(&self, o: V, d: V, depth: u32, rng: &mut Rng) -> V {
        let Some((t, i)) = self.nearest(o, d) else {
            return V(0.05, 0.05, 0.1);
        };
        let (shape, shader) = self.objects[i];
        let p = o + d * t;
        let n = shape.normal(p);
        let ao = self.occlusion(p, n, rng);
        match shader {
            Shader::Checker(colour) => {
                let colour = if p.0.sin() + p.2.cos() > 0.5 {
                    colour * 0.5
                } else {
                    colour
                };
                colour.times(self.lit(p, n)) * ao
            }
            Shader::Reflective(colour) => {
                let lit = colour.times(self.lit(p, n));
                let reflected = if depth < DEPTH {
                    let r = d - n * (2.0 * d.dot(n));
                    self.trace(p + n * 1e-4, r.norm(), depth + 1, rng)
                } else {
                    V(0.0, 0.0, 0.0)
                };
                (lit * 0.5 + reflected * 0.5) * ao
            }
        }
    }

    /// One row of 8-bit RGB pixels: the work item.
    fn row(&self, y: u32, w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 * w as usize);
        let aspect = w as f64 / h as f64;
        for x in 0..w {
            let mut rng = Rng::new(x, y);
            let px = (2.0 * (x as f64 + 0.5) / w as f64 - 1.0) * aspect * 0.3;
            let py = (1.0 - 2.0 * (y as f64 + 0.5) / h as f64) * 0.3 - 0.08;
            let c = self.trace(V(0.0, 0.0, 0.0), V(px, py, 1.0).norm(), 0, &mut rng);
            for v in [c.0, c.1, c.2] {
                out.push((v.clamp(0.0, 1.0).powf(1.0 / 2.2) * 255.0 + 0.5) as u8);
            }
        }
        out
    }
}

/// One row, as a reusable worker renders it: the scene is built once per worker process.
#[par::parallel]
fn render_row(rays: u32, y: u32, w: u32, h: u32) -> Vec<u8> {
    static SCENE: std::sync::OnceLock<Scene> = std::sync::OnceLock::new();
    SCENE.get_or_init(|| Scene::pygmy(rays)).row(y, w, h)
}

struct Args {
    w: u32,
    h: u32,
    workers: Option<usize>,
    rays: u32,
    out: String,
    /// Which par API renders the rows: `loop` (par!), `pmap`, `queue`, `pool` or `mpi`.
    via: String,
}

const HELP: &str = "\
usage: raytrace [--size WxH] [--workers N] [--rays N] [--out FILE.png] [--via loop|pmap|queue|pool|mpi]

Renders PyGmy's scene once sequentially and once in parallel (one row per item), checks that
the two images are identical, writes the parallel one as a PNG and prints the speedup.

  --size WxH     image size (default 1200x800)
  --workers N    worker processes (default: PAR_WORKERS, else one per core)
  --rays N       occlusion rays per pixel: the work per row (default 64)
  --out FILE     where the PNG goes (default raytrace.png in the current directory)
  --via API      which par API renders the rows; the image is the same with each:
                   loop   par!(for y in 0..h { row(y) }): a parallel for loop (default)
                   pmap   par::pmap: an ordered map, one forked child per row (pprocess' pmap)
                   queue  par::Queue: rows come back as they finish, tagged with their number
                   pool   par::Pool + #[parallel]: reusable workers, only (rays, y, w, h) travel
                   mpi    the pool's workers are the other ranks of an MPI job
                          (build with --features mpi, start with mpirun -np 3)";

fn usage(msg: &str) -> ! {
    eprintln!("raytrace: {msg}\n{HELP}");
    std::process::exit(2)
}

fn parse() -> Args {
    let mut a = Args {
        w: 1200,
        h: 800,
        workers: None,
        rays: 64,
        out: "raytrace.png".into(),
        via: "loop".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--size" => {
                let v = value();
                let (w, h) = v
                    .split_once('x')
                    .unwrap_or_else(|| usage("--size takes WxH, e.g. 300x200"));
                a.w = w.parse().unwrap_or_else(|_| usage("bad width"));
                a.h = h.parse().unwrap_or_else(|_| usage("bad height"));
            }
            "--workers" => {
                a.workers = Some(value().parse().unwrap_or_else(|_| usage("bad --workers")))
            }
            "--rays" => a.rays = value().parse().unwrap_or_else(|_| usage("bad --rays")),
            "--out" => a.out = value(),
            "--via" => {
                a.via = value();
                if !["loop", "pmap", "queue", "pool", "mpi"].contains(&a.via.as_str()) {
                    usage(&format!(
                        "--via {}: expected `loop`, `pmap`, `queue`, `pool` or `mpi`",
                        a.via
                    ));
                }
            }
            "-h" | "--help" => {
                // `raytrace --help | head` closes the pipe early: not an error.
                let _ = writeln!(std::io::stdout(), "{HELP}");
                std::process::exit(0)
            }
            other => usage(&format!("unknown flag {other}")),
        }
    }
    if a.w == 0 || a.h == 0 {
        usage("the image must not be empty");
    }
    a
}

fn write_png(path: &str, w: u32, h: u32, rgb: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()?.write_image_data(rgb)?;
    Ok(())
}

// MPI: rank 0 runs `run`, the other ranks serve `render_row` calls (plainly: just `run`).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    par::main(run)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let a = parse();
    if a.via == "mpi" && par::mpi::size() < 2 {
        usage(
            "--via mpi renders on the other ranks of an MPI job: build with `--features mpi` and start it with `mpirun -np 3` (or `srun`)",
        );
    }
    let scene = Scene::pygmy(a.rays);
    let (w, h) = (a.w, a.h);

    let t = Instant::now();
    let sequential: Vec<Vec<u8>> = (0..h).map(|y| scene.row(y, w, h)).collect();
    let seq = t.elapsed();

    let t = Instant::now();
    // The loop above, made parallel by wrapping it: the scene reaches the workers by fork,
    // each row comes back as bytes.
    let workers = a.workers.unwrap_or_else(par::default_workers);
    let parallel: Vec<Vec<u8>> = match a.via.as_str() {
        // pprocess' pmap: an ordered map, one forked child per row.
        "pmap" => par::pmap(|y| scene.row(y, w, h), 0..h, workers).collect::<Result<_, _>>()?,
        // pprocess' Queue: rows come back as they complete, tagged with their job number.
        "queue" => {
            let mut queue = par::Queue::new(workers);
            for y in 0..h {
                let scene = &scene;
                queue.spawn(move || scene.row(y, w, h));
            }
            let mut rows: Vec<(usize, Vec<u8>)> = Vec::with_capacity(h as usize);
            for (job, row) in queue {
                rows.push((job, row?));
            }
            rows.sort_by_key(|(job, _)| *job);
            rows.into_iter().map(|(_, row)| row).collect()
        }
        // pprocess' reusable workers: each pool worker builds the scene on its first row and
        // keeps it (per-worker state persists between calls); only (rays, y, w, h) travel.
        // The same code as "pool": under `mpirun` (inside `par::main`), the pool's workers are
        // the other ranks, on any node; only (rays, y, w, h) and the rows travel.
        "pool" | "mpi" => {
            let mut pool = par::Pool::new(workers);
            for y in 0..h {
                render_row::spawn(&mut pool, a.rays, y, w, h);
            }
            pool.ordered().collect::<Result<_, _>>()?
        }
        _ => par!(
            workers = workers,
            for y in 0..h {
                scene.row(y, w, h)
            }
        ),
    };
    let par_time = t.elapsed();

    if parallel != sequential {
        return Err("the parallel image differs from the sequential one".into());
    }
    write_png(&a.out, w, h, &parallel.concat())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The best a loop can do: one row at a time on each of min(workers, cores) cores.
    let (who, ideal) = match a.via.as_str() {
        "mpi" => {
            let ranks = par::mpi::size() - 1;
            (format!("{ranks} ranks"), ranks)
        }
        _ => (
            format!("{workers} workers on {cores} cores"),
            workers.min(cores),
        ),
    };
    let api = match a.via.as_str() {
        "loop" => "a par! loop",
        "pmap" => "par::pmap",
        "queue" => "a par::Queue",
        "pool" => "a par::Pool",
        _ => "a par::Pool over MPI ranks",
    };
    println!(
        "{w}x{h} pixels, {} occlusion rays each, rendered by {api} ({who})",
        a.rays
    );
    println!("sequential {:>8.1} ms", seq.as_secs_f64() * 1e3);
    println!(
        "parallel   {:>8.1} ms   speedup {:.2}x (ideal {ideal}.00x; less on a busy machine, and the forks' start costs a few ms)",
        par_time.as_secs_f64() * 1e3,
        seq.as_secs_f64() / par_time.as_secs_f64()
    );
    let out = std::fs::canonicalize(&a.out).unwrap_or_else(|_| a.out.clone().into());
    println!("images identical; wrote {}", out.display());
    Ok(())
}
