from greenprune.cli import main

main()
