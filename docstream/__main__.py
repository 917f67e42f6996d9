from docstream.cli import main

main()
