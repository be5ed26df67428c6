from fada_bench.cli import main

main()
