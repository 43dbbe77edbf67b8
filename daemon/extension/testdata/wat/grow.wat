(module
  (memory (export "memory") 2)
  (data (i32.const 0) "{\"allow\":true,\"reasons\":[\"ok\"]}")
  (func (export "signer_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "_initialize"))
  (func (export "signer_abi_version") (result i32) (i32.const 1))
  (func (export "signer_check") (param i32 i32) (result i64)
    ;; Ask for 64 MiB more; a module that cannot get memory traps.
    (if (i32.eq (memory.grow (i32.const 1024)) (i32.const -1)) (then unreachable))
    (i64.const 31)))
