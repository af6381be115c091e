//! `report` and `progress = "label"` compile, alone and with other clauses.
use par::par;

fn main() {
    let v = par!(
        report,
        for i in 0..10u32 {
            i
        }
    );
    assert_eq!(v.len(), 10);
    let label = String::from("rows");
    let v = par!(
        workers = 2,
        progress = label.as_str(),
        report,
        for i in 0..10u32 {
            i + 1
        }
    );
    assert_eq!(v.len(), 10);
    let v = par!(
        progress = "rows",
        for i in 0..10u32 {
            i
        }
    );
    assert_eq!(v.len(), 10);
}
