(module
  (import "env" "http_get" (func $get (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "signer_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "_initialize"))
  (func (export "signer_abi_version") (result i32) (i32.const 1))
  (func (export "signer_check") (param i32 i32) (result i64)
    (drop (call $get (i32.const 0) (i32.const 0)))
    (i64.const 31)))
