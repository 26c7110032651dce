from genretag.cli import main

main()
