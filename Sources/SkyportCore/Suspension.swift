/// The one way Skyport's signals suspend a task: until someone resumes the continuation `register` was given, or
/// until `timeout` (or the task's cancellation), whichever comes first. `register` returns true to resume at once
/// (what it waits for has already happened). `expire` runs when the time is up and must resume a registered
/// continuation, and make a later `register` resume at once (the race between the two is the caller's to close
/// under its lock). Used by `WorkSignal` and `ChangeFeed`.
func suspend(
    upTo timeout: Duration, register: @escaping @Sendable (CheckedContinuation<Void, Never>) -> Bool,
    expire: @escaping @Sendable () -> Void
) async {
    await withTaskGroup(of: Void.self) { group in
        group.addTask {
            await withCheckedContinuation { c in
                if register(c) { c.resume() }
            }
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            expire()
        }
        await group.next()
        group.cancelAll()
        expire()
    }
}
