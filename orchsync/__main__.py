from orchsync.faces.cli import main

main()
