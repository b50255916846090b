from orchsync.cli import main

main()
