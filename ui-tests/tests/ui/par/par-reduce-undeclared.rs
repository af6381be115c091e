use par::par;

fn main() {
    par!(reduce(+: total), for i in 0..10u32 {
        total += i;
    });
}
