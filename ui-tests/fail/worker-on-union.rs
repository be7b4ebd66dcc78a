use winddown::worker;

#[worker(every = "5s")]
union Bits {
    a: u32,
}

fn main() {}
