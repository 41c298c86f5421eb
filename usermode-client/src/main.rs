fn main() {
    println!("picket: not built yet");
}
