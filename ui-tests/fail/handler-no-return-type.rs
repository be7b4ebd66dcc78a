use winddown::handler;

#[handler]
async fn get_user(_id: u32) {}

fn main() {}
